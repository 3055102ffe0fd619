package io.github.tokenbutler.plugin.selection;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.math.RoundingMode;

import static org.junit.jupiter.api.Assertions.*;

class BudgetRuleTest {
    @Test
    void keepIsTheCeilingOfVisibleTimesOneMinusSparsityComputedExactly() {
        for (String s : new String[]{"0", "0.1", "0.25", "0.3", "0.5", "0.7", "0.75", "0.9", "0.99", "1"}) {
            BudgetRule rule = new BudgetRule(Double.parseDouble(s), 0, 4, 0);
            BigDecimal keepFraction = BigDecimal.ONE.subtract(new BigDecimal(s));
            for (int p = 0; p < 5000; p++) {
                int exact = keepFraction.multiply(BigDecimal.valueOf(p + 1L)).setScale(0, RoundingMode.CEILING).intValueExact();
                assertEquals(exact, rule.keep(p), "s=" + s + " p=" + p);
            }
        }
    }

    @Test
    void fixedBudgetIsCappedByTheVisibleTokens() {
        BudgetRule rule = new BudgetRule(0, 64, 4, 0);
        assertEquals(1, rule.keep(0));
        assertEquals(64, rule.keep(63));
        assertEquals(64, rule.keep(10_000));
    }

    @Test
    void mandatoryPositionsAreSinksWindowAndCurrent() {
        BudgetRule rule = new BudgetRule(0.75, 0, 4, 8);
        // p = 100: sinks 0..3, recent 92..100 (window 92..99 and 100).
        assertEquals(4, rule.sinkEnd(100));
        assertEquals(92, rule.recentStart(100));
        assertEquals(13, rule.mandatory(100));
        assertEquals(26 - 13, rule.policySlots(100)); // K = ceil(101 / 4) = 26
        // Short prefix: everything is mandatory, no slots left, and the regions do not overlap.
        assertEquals(3, rule.sinkEnd(2));
        assertEquals(3, rule.recentStart(2));
        assertEquals(3, rule.mandatory(2));
        assertEquals(0, rule.policySlots(2));
        assertEquals(0, rule.policySlots(10)); // K = 3, mandatory = 4 + 7
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BudgetRule(1.5, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new BudgetRule(Double.NaN, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new BudgetRule(0.5, -1, 0, 0));
    }
}
