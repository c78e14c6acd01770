using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>
/// A failing check before a rollback is confirmed by a retry one interval later, or by the same check failing at least
/// one interval earlier in this process with no pass since (an assessment just before the rollback's preflight); never
/// by a failure older than that window's freshness, never across a pass, and never for the checks after a rollback.
/// </summary>
public class HealthConfirmationTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(300);

    private static HealthCheckOptions Check(LocalHttpServer server, bool confirms, int retries = 1) =>
        new() { Uri = new Uri(server.Url()), Retries = retries, Interval = Interval, ConfirmsFailure = confirms };

    [Fact]
    public async Task A_failure_seen_one_interval_earlier_confirms_the_next_confirming_check_without_a_retry()
    {
        using var server = new LocalHttpServer((_, _) => (503, "down"));

        var assessment = await HealthVerifier.CheckAsync(Check(server, confirms: true), new RecordingObserver(), default);
        var preflight = await HealthVerifier.CheckAsync(Check(server, confirms: true), new RecordingObserver(), default);

        Assert.False(assessment.Passed);
        Assert.Equal(2, assessment.Attempts);
        Assert.False(preflight.Passed);
        Assert.Equal(1, preflight.Attempts);
        Assert.Contains("also failing", preflight.Message);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task A_pass_in_between_or_a_failure_less_than_an_interval_ago_still_needs_the_retry()
    {
        var answers = new Queue<int>(new[] { 503, 200, 503, 503, 503, 503 });
        using var server = new LocalHttpServer((_, _) => (answers.Dequeue(), ""));

        // Failing, then passing: the pass ends the failure, so the next failure is confirmed by its own retry.
        Assert.False((await HealthVerifier.CheckAsync(Check(server, confirms: false, retries: 0), new RecordingObserver(), default)).Passed);
        Assert.True((await HealthVerifier.CheckAsync(Check(server, confirms: false, retries: 0), new RecordingObserver(), default)).Passed);
        var afterPass = await HealthVerifier.CheckAsync(Check(server, confirms: true), new RecordingObserver(), default);
        Assert.Equal(2, afterPass.Attempts);

        // Failing since less than an interval before: the retry comes (after the rest of the interval).
        var other = new LocalHttpServer((_, _) => (503, ""));
        using (other)
        {
            await HealthVerifier.CheckAsync(Check(other, confirms: false, retries: 0), new RecordingObserver(), default);
            var soon = await HealthVerifier.CheckAsync(Check(other, confirms: true), new RecordingObserver(), default);
            Assert.Equal(2, soon.Attempts);
            Assert.DoesNotContain("also failing", soon.Message);
        }
    }

    [Fact]
    public async Task The_checks_after_a_rollback_keep_all_their_retries_whatever_failed_before()
    {
        using var server = new LocalHttpServer((_, _) => (503, "down"));
        await HealthVerifier.CheckAsync(Check(server, confirms: true), new RecordingObserver(), default);

        var verification = await HealthVerifier.CheckAsync(Check(server, confirms: false, retries: 2), new RecordingObserver(), default);

        Assert.Equal(3, verification.Attempts);
        Assert.Equal(5, server.Requests.Count);
    }
}
