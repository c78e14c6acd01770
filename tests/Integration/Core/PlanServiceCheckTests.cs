using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>
/// A plan's assessment starts the service's checks before it reads the journal and opens the components (they need
/// neither), on real git repositories and a real loopback HTTP endpoint; an assessment that fails on its own stops them.
/// </summary>
public class PlanServiceCheckTests
{
    private static ServicePlan Plan(GitFixture git, LocalHttpServer server, TimeSpan interval) => new()
    {
        Service = "shop-" + Guid.NewGuid().ToString("N")[..6],
        Components = [new PlanComponent { Name = "code", Request = new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath } } }],
        Verification = new VerificationOptions { HealthChecks = [new HealthCheckOptions { Uri = new Uri(server.Url()), Interval = interval }] },
    };

    [Fact]
    public async Task A_failing_service_is_confirmed_by_one_retry_and_judges_the_components()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "down"));

        var assessment = await PlanEngine.AssessAsync(Plan(git, server, TimeSpan.FromMilliseconds(200)), new PlanRunOptions(), git.Context());

        Assert.False(assessment.Health!.Healthy);
        Assert.Equal(2, assessment.Health.Checks.Single().Attempts);
        Assert.Equal(2, server.Requests.Count);
        Assert.False(assessment.Components.Single().Healthy);
        Assert.Equal(FailureType.HealthCheckFailed, assessment.FailureType);
    }

    [Fact]
    public async Task An_assessment_that_fails_stops_the_service_check_it_started()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "down"));
        var observer = new RecordingObserver();

        var error = await Assert.ThrowsAsync<RollbackException>(() =>
            PlanEngine.AssessAsync(Plan(git, server, TimeSpan.FromSeconds(2)), new PlanRunOptions { Snapshot = "no-such-release" }, git.Context(observer)));
        var (messagesAtReturn, progressAtReturn) = (observer.Messages.Count, observer.ProgressUpdates.Count);
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        Assert.Equal(ErrorIds.ReleaseSnapshotNotFound, error.ErrorId);
        // The first request may have gone out; the retry two seconds later never does, and nothing is reported after the error.
        Assert.True(server.Requests.Count <= 1, $"{server.Requests.Count} requests");
        Assert.Equal(messagesAtReturn, observer.Messages.Count);
        Assert.Equal(progressAtReturn, observer.ProgressUpdates.Count);
    }
}
