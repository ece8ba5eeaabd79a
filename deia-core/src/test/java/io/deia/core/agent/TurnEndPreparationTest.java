package io.deia.core.agent;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TurnEndPreparationTest {
    @Test
    void everyListedClassExistsAndTheSignallingShellAnswers() {
        assertFalse(TurnEndPreparation.CLASSES.isEmpty());
        // False when a listed class was renamed or moved (the preparation would silently stop helping).
        assertTrue(TurnEndPreparation.run());
    }

    @Test
    void startOnceMayBeCalledFromEveryTurn() {
        assertDoesNotThrow(() -> {
            TurnEndPreparation.startOnce();
            TurnEndPreparation.startOnce();
        });
    }
}
