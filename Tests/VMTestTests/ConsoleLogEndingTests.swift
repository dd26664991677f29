import Testing

@testable import VMTest

@Suite struct ConsoleLogEndingTests {
    /// The end of a nested Cortex-A57 guest's console log (2026-12-01): the panic line,
    /// then the stack dump that fills the log's last lines.
    static let nestedPanic = """
        root@vmtest:~# [  OK  ] Reached target nss-lookup.target - Host and Network Name Lookups.\r\r
        [   96.357643] Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: __run_timers+0x3a0/0x3a0\r
        [   96.533241] CPU: 1 PID: 0 Comm: swapper/1 Not tainted 6.1.0-50-armmp-lpae #1  Debian 6.1.176-1\r
        [   96.643876] Hardware name: Generic DT based system\r
        [   96.700334]  unwind_backtrace from show_stack+0x18/0x1c\r
        [   97.100733] CPU0: stopping\r

        """

    @Test func readsTheReasonFromThePanicLine() {
        #expect(
            ConsoleLogEnding(log: Self.nestedPanic, lineCount: 3).kernelPanic
                == "stack-protector: Kernel stack is corrupted in: __run_timers+0x3a0/0x3a0")
    }

    @Test func anOopsTurnedPanicGivesItsLastPanic() {
        let log = """
            [   93.989148] kernel BUG at Returning to usermode but unexpected PSR bits set?:5!
            [   94.115545] Internal error: Oops - BUG: 0 [#1] SMP ARM
            [   97.561642] Kernel panic - not syncing: Fatal exception
            [   97.600000] SMP: failed to stop secondary CPUs
            """
        #expect(ConsoleLogEnding(log: log, lineCount: 3).kernelPanic == "Fatal exception")
    }

    @Test func aLogWithoutAPanicHasNoReason() {
        #expect(ConsoleLogEnding(log: "[    1.0] Run /init as init process\nroot@vmtest:~# ", lineCount: 3).kernelPanic == nil)
        #expect(ConsoleLogEnding(log: "", lineCount: 3).kernelPanic == nil)
    }

    /// A serial console ends its lines in `\r\n`, which Swift holds as one character: a
    /// split on "\n" alone found no line end at all and printed the whole log as its tail.
    @Test func theLastLinesOfASerialLogAreItsLastLines() {
        let log = (1...50).map { "line \($0)\r\n" }.joined()
        let ending = ConsoleLogEnding(log: log, lineCount: 3)
        #expect(ending.lastLines == ["line 48", "line 49", "line 50"])
        #expect(ending.kernelPanic == nil)
        #expect(ending.formatted(heading: "last:") == "last:\n  | line 48\n  | line 49\n  | line 50")
    }

    @Test func aPanicIsNamedAboveTheLastLines() {
        let ending = ConsoleLogEnding(log: Self.nestedPanic, lineCount: 2)
        #expect(ending.lastLines == ["[   96.700334]  unwind_backtrace from show_stack+0x18/0x1c", "[   97.100733] CPU0: stopping"])
        #expect(
            ending.formatted(heading: "last:").hasPrefix(
                "the guest kernel panicked: stack-protector: Kernel stack is corrupted in: __run_timers+0x3a0/0x3a0\nlast:\n"))
    }
}
