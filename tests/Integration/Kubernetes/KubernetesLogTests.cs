using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Container;
using k8s.Models;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Kubernetes;

/// <summary>
/// "No error spikes in logs" for a workload: the failed template's pods' logs, kept by the checkpoint, against the logs
/// written since the rollback began by the pods of the template it restored (the fake's crash-looping image logs an
/// ERROR line each run; its other images log three lines at start and nothing more).
/// </summary>
public class KubernetesLogTests
{
    private static ChecklistItem Spikes(StateRoot state, RollbackResult attempt) => Checklist.Build(state, attempt).Single(i => i.Item == "No error spikes in logs");

    [Fact]
    public async Task New_pods_without_errors_after_the_rollback_tick_the_item_with_the_counts()
    {
        await using var kube = await KubeFixture.StartAsync();
        // Recreate: every pod of the failed template crash-loops, and the rollback's pods are new.
        await kube.DeployAsync("web", "registry/app:1.0", customiseDeployment: d => d.Strategy = new V1DeploymentStrategy { Type = "Recreate" });
        await kube.SetImageAsync("web", "registry/app:2.0-crash");

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        var checkpoint = Assert.Single(new CheckpointStore(kube.State()).List());
        Assert.Equal(2, checkpoint.Logs.Count);
        Assert.All(checkpoint.Logs, l => Assert.Matches(@"^logs/web-\w+-\w+_app\.txt$", l));
        var compared = ContainerLogTests.Compared(kube.State(), result);
        Assert.Equal(LogVerdict.NoSpike, compared.Verdict);
        Assert.Equal((2, 8, 0, 6), (compared.BeforeErrorLines, compared.BeforeLines, compared.AfterErrorLines, compared.AfterLines));
        Assert.Equal(2, compared.Sources.Count);
        Assert.All(compared.Sources, s => Assert.Matches(@"^pod/web-\w+-\w+/app$", s));
        Assert.Contains("ERROR: fatal: configuration invalid", compared.BeforeExamples[0]);
        var logRequests = kube.Server.Requests.Where(r => r.Subresource == "log" && r.Query.Contains("sinceSeconds=")).ToList();
        Assert.Equal(2, logRequests.Count);
        Assert.All(logRequests, r => Assert.Contains("tailLines=1000", r.Query));
        var item = Spikes(kube.State(), result);
        Assert.True(item.Done, item.Evidence);
        Assert.Equal("0 error lines in 6 after the rollback against 2 in 8 before", item.Evidence);
    }

    [Fact]
    public async Task Pods_that_wrote_nothing_since_the_rollback_are_no_evidence()
    {
        await using var kube = await KubeFixture.StartAsync();
        // A rolling update keeps the old pods running beside the crashing new one; the rollback scales the new one away.
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        var compared = ContainerLogTests.Compared(kube.State(), result);
        Assert.Equal(LogVerdict.NoEvidence, compared.Verdict);
        Assert.Equal(0, compared.AfterLines);
        Assert.Equal(2, compared.Sources.Count);
        var item = Spikes(kube.State(), result);
        Assert.False(item.Done);
        Assert.Matches(@"^no evidence: the target wrote no log lines in the \d+ s after the rollback; no Prometheus measurement was taken; check the service's logs$", item.Evidence);
    }
}
