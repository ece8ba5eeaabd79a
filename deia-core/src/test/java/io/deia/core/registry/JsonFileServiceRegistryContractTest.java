package io.deia.core.registry;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** The {@link ServiceRegistry} contract on the embedded file registry. */
class JsonFileServiceRegistryContractTest extends ServiceRegistryContract {
    @TempDir
    Path tmp;

    @Override
    protected ServiceRegistry registry(DeiaConfig config) {
        return new JsonFileServiceRegistry(new HiveLayout(tmp.resolve(".deia")), config);
    }
}
