using System.Diagnostics;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class LogComparisonTests
{
    [Theory]
    [InlineData("2024-05-01 12:00:00 ERROR could not reach the database")]
    [InlineData("ERROR:root:payment failed")]
    [InlineData("E, [2024-05-01T12:00:00] ERROR -- : boom")]
    [InlineData("[12:00:00 ERR] Unhandled request")]
    [InlineData("FATAL: password authentication failed for user \"app\"")]
    [InlineData("CRITICAL worker lost")]
    [InlineData("SEVERE: servlet threw an exception")]
    [InlineData("2024/05/01 12:00:00 [error] 7#7: *1 connect() failed (111: Connection refused)")]
    [InlineData("[Wed May 01 12:00:00 2024] [core:error] [pid 1] AH00037: Symbolic link not allowed")]
    [InlineData("fail: Microsoft.AspNetCore.Server.Kestrel[13]")]
    [InlineData("crit: Microsoft.AspNetCore.Hosting.Diagnostics[6]")]
    [InlineData("E0501 12:00:00.123456       1 reflector.go:138] failed to list")]
    [InlineData("F0501 12:00:00.123456       1 server.go:12] cannot start")]
    [InlineData("Unhandled exception. System.InvalidOperationException: no config")]
    [InlineData("java.lang.NullPointerException")]
    [InlineData("Exception in thread \"main\" java.lang.IllegalStateException")]
    [InlineData("Traceback (most recent call last):")]
    [InlineData("ValueError: invalid literal for int() with base 10: 'x'")]
    [InlineData("Error: connect ECONNREFUSED 127.0.0.1:5432")]
    [InlineData("panic: runtime error: invalid memory address or nil pointer dereference")]
    [InlineData("time=2024-05-01T12:00:00Z level=error msg=\"query failed\"")]
    [InlineData("ts=1 lvl=ERROR msg=x")]
    [InlineData("level=\"fatal\" msg=x")]
    [InlineData("{\"level\":\"error\",\"msg\":\"query failed\"}")]
    [InlineData("{\"time\":1,\"severity\":\"CRITICAL\",\"message\":\"x\"}")]
    [InlineData("{\"levelname\": \"ERROR\", \"message\": \"x\"}")]
    [InlineData("{\"@t\":\"2024-05-01\",\"@l\":\"Error\",\"@m\":\"x\"}")]
    [InlineData("{\"level\":50,\"msg\":\"pino error\"}")]
    [InlineData("{\"level\":60,\"msg\":\"pino fatal\"}")]
    [InlineData("127.0.0.1 - - [01/May/2024:12:00:00 +0000] \"GET /orders HTTP/1.1\" 503 19 \"-\" \"curl/8.0\"")]
    [InlineData("10.0.0.1 - - [01/May/2024:12:00:00 +0000] \"POST /pay HTTP/2.0\" 500 0")]
    [InlineData("{\"level\":\"info\",\"status\":502,\"path\":\"/pay\"}")]
    [InlineData("level=info method=GET path=/pay status=500")]
    public void Error_lines(string line) => Assert.True(ErrorLines.IsError(line), line);

    [Theory]
    [InlineData("2024-05-01 12:00:00 INFO started in 0.3 s")]
    [InlineData("retrying after an error: attempt 2")]
    [InlineData("0 errors, 12 warnings")]
    [InlineData("error_count=0")]
    [InlineData("WARN: slow query")]
    [InlineData("starting registry/app:1.0")]
    [InlineData("time=2024-05-01T12:00:00Z level=info msg=\"ERROR budget at 99.9%\"")]
    [InlineData("{\"level\":\"warn\",\"msg\":\"FATAL errors are reported elsewhere\"}")]
    [InlineData("{\"level\":30,\"msg\":\"pino info\"}")]
    [InlineData("127.0.0.1 - - [01/May/2024:12:00:00 +0000] \"GET /health HTTP/1.1\" 200 2")]
    [InlineData("127.0.0.1 - - [01/May/2024:12:00:00 +0000] \"GET /missing HTTP/1.1\" 404 0")]
    [InlineData("served 503 bytes")]
    [InlineData("HANDLE_ERRORS=true")]
    [InlineData("loglevel=error is the default")]
    [InlineData("   at App.Program.Main(String[] args)")]
    [InlineData("")]
    public void Not_error_lines(string line) => Assert.False(ErrorLines.IsError(line), line);

    [Fact]
    public void A_huge_line_is_classified_in_linear_time()
    {
        var line = new string('a', 5_000_000) + "Exception";
        var watch = Stopwatch.StartNew();

        ErrorLines.IsError(line);
        ErrorLines.IsError(new string('E', 1_000_000));
        // Lines made to make a backtracking engine try every split (each pattern's worst case that we know of).
        foreach (var adversarial in AdversarialLines())
        {
            ErrorLines.IsError(adversarial);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
    }

    [Fact]
    public void The_compiled_patterns_classify_as_the_same_patterns_without_backtracking_do()
    {
        // Random lines of the tokens the patterns look for, plus the adversarial ones: the compiled (backtracking)
        // patterns must say exactly what the non-backtracking engine says.
        string[] tokens =
        {
            "\"", "GET", "POST", " ", "HTTP/1.1", "HTTP/2", "[", "]", ":", "Error", "error", "ERROR", "A", "a", "1", "503", "500", "200",
            "level=", "lvl=", "\"level\"", "\"status\"", "status=", "fail", "crit", ": ", "\t", "{", ",", "Exception", "Traceback (most recent call last)",
            "panic:", "E1204", " 12:00:00.123", "core:", "[error]", "x", "Z", "_", "=", "\"@l\"", "severity", "info", "50", "\"levelname\"",
            "fatal", "\"statusCode\"", "-", "é", "ERR", "CRIT",
        };
        var random = new Random(20261204);
        var lines = Enumerable.Range(0, 20_000).Select(_ => string.Concat(Enumerable.Range(0, random.Next(1, 40)).Select(_ => tokens[random.Next(tokens.Length)])))
            .Concat(AdversarialLines()).ToList();
        var reference = ErrorLines.WithoutBacktracking();

        var differing = lines.Where(line => ErrorLines.IsError(line) != ErrorLines.IsError(line, reference)).Take(5).ToList();

        Assert.Empty(differing);
        Assert.Contains(lines, ErrorLines.IsError);
        Assert.Contains(lines, line => !ErrorLines.IsError(line));
    }

    private static IEnumerable<string> AdversarialLines()
    {
        static string Times(string part, int count) => string.Concat(Enumerable.Repeat(part, count));
        return new[]
        {
            new string('A', 2000), Times("A ", 1000), "\"GET " + new string('"', 1995), Times("\"GET ", 400), Times("\"GET x", 333),
            "[" + new string('a', 1999), Times("[a", 1000), Times("[a:", 666), "fail: " + new string('x', 1994), Times(" fail: x", 250),
            "fail: " + Times("[1", 997), Times(" level=\"", 250), Times("\"level\" : ", 200), "\"level\"" + new string(' ', 1993),
            Times("\"status\": \"", 180), Times("AError", 333), "E" + new string('1', 1999), Times("status=5", 250), new string(' ', 2000),
        };
    }

    [Theory]
    // A spike: the error share after the rollback is above the one before and above 1 in 100.
    [InlineData(57, 200, 3, 240, false)]
    [InlineData(2, 200, 30, 40, true)]
    [InlineData(10, 100, 10, 100, false)]
    [InlineData(10, 100, 11, 100, true)]
    [InlineData(0, 200, 1, 240, false)]
    [InlineData(0, 200, 1, 100, false)]
    [InlineData(0, 200, 2, 100, true)]
    [InlineData(0, 0, 1, 100, false)]
    [InlineData(0, 0, 2, 100, true)]
    [InlineData(0, 0, 1, 1, true)]
    [InlineData(5, 5, 1, 1, false)]
    [InlineData(3, 6, 0, 0, false)]
    public void Spike_rule(int beforeErrors, int beforeLines, int afterErrors, int afterLines, bool spike) =>
        Assert.Equal(spike, LogComparison.IsSpike(beforeErrors, beforeLines, afterErrors, afterLines));

    [Fact]
    public void Compares_counts_blank_lines_out_and_keeps_redacted_examples()
    {
        var before = Enumerable.Repeat("ERROR db down: postgres://app:hunter2@db/app", 4).Concat(Enumerable.Repeat("INFO retry", 6)).Append("").ToList();
        var after = new[] { "INFO starting 2.3.0", "", "INFO ready", "ERROR cache cold, token=abc123secret" };

        var comparison = LogComparison.Compare(before, after, TimeSpan.FromSeconds(12.34), "pre-rollback-1");

        Assert.Equal(LogVerdict.NoSpike, comparison.Verdict);
        Assert.Equal((4, 10, 1, 3), (comparison.BeforeErrorLines, comparison.BeforeLines, comparison.AfterErrorLines, comparison.AfterLines));
        Assert.Equal(12.3, comparison.WindowSeconds);
        Assert.Equal("1 error line in 3 after the rollback against 4 in 10 before", comparison.Describe());
        Assert.DoesNotContain("abc123secret", Assert.Single(comparison.Examples));
        Assert.Equal(3, comparison.BeforeExamples.Count);
        Assert.All(comparison.BeforeExamples, e => Assert.DoesNotContain("hunter2", e));
    }

    [Fact]
    public void Says_spike_no_lines_and_an_empty_checkpoint_plainly()
    {
        var spike = LogComparison.Compare(new[] { "INFO ok", "ERROR x" }, new[] { "ERROR a", "ERROR b", "INFO c" }, TimeSpan.FromSeconds(5));
        var silent = LogComparison.Compare(new[] { "ERROR x" }, new[] { "", "  " }, TimeSpan.FromSeconds(7));
        var noBefore = LogComparison.Compare(Array.Empty<string>(), Enumerable.Repeat("INFO ok", 99).Append("ERROR once").ToList(), TimeSpan.FromSeconds(5));

        Assert.Equal(LogVerdict.Spike, spike.Verdict);
        Assert.Equal("spike: 2 error lines in 3 after the rollback against 1 in 2 before", spike.Describe());
        Assert.Equal(LogVerdict.NoEvidence, silent.Verdict);
        Assert.Equal("no evidence: the target wrote no log lines in the 7 s after the rollback", silent.Describe());
        Assert.Equal(LogVerdict.NoSpike, noBefore.Verdict);
        Assert.Equal("1 error line in 100 after the rollback against none before (the checkpoint kept no log lines; more than 1 in 100 would be a spike)", noBefore.Describe());
    }

    [Fact]
    public void Splits_a_log_into_lines()
    {
        Assert.Equal(new[] { "a", "b", "" , "c" }, LogSample.Split("a\r\nb\n\nc\n"));
        Assert.Empty(LogSample.Split(""));
    }
}
