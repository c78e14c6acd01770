using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Container;
using DeploymentRollback.Tests.Integration.Docker;
using Xunit;

namespace DeploymentRollback.Tests.Integration.DockerCompose;

/// <summary>"No error spikes in logs" for a project: the logs of the services the rollback changes, before and after.</summary>
public class ComposeLogTests
{
    [RequiresFact(Component.Docker)]
    public async Task Only_the_services_rolled_back_are_compared_and_fewer_errors_tick_the_item()
    {
        LogImages.Ensure();
        using var project = new ComposeProject();
        project.WriteFile("docker-compose.yml", "2.3.1", "drtest/app-logs", "drtest/app-logs");
        project.WriteFile("docker-compose.previous.yml", "2.3.0", "drtest/app-logs", "drtest/app-logs");
        project.Up();
        var worker = project.ContainerOf("worker");
        var healthy = new HealthCheckOptions { Uri = new Uri($"http://127.0.0.1:{project.WebPort}/health"), Retries = 40, Interval = TimeSpan.FromMilliseconds(250) };
        var request = project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml", Services = new[] { "web" } })
            with { Verification = new VerificationOptions { HealthChecks = new[] { healthy } } };

        var result = await RollbackEngine.InvokeAsync(request, project.Git.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message + " | " + string.Join(" | ", result.Steps.Select(s => $"{s.Name}: {s.Status} {s.Message}")));
        Assert.Equal(worker, project.ContainerOf("worker"));
        var checkpoint = Assert.Single(new CheckpointStore(project.Git.State()).List());
        Assert.Equal(new[] { "services/web/logs.txt" }, checkpoint.Logs);
        Assert.Contains("services/worker/logs.txt", checkpoint.Artefacts);
        var compared = ContainerLogTests.Compared(project.Git.State(), result);
        Assert.StartsWith("service web (", Assert.Single(compared.Sources));
        Assert.Equal(LogVerdict.NoSpike, compared.Verdict);
        Assert.Equal((4, 10, 1, 8), (compared.BeforeErrorLines, compared.BeforeLines, compared.AfterErrorLines, compared.AfterLines));
        var item = Checklist.Build(project.Git.State(), result).Single(i => i.Item == "No error spikes in logs");
        Assert.True(item.Done, item.Evidence);
        Assert.Equal("1 error line in 8 after the rollback against 4 in 10 before", item.Evidence);
    }

    [RequiresFact(Component.Docker)]
    public async Task A_project_rolled_back_to_a_noisier_release_shows_the_spike()
    {
        LogImages.Ensure();
        using var project = new ComposeProject();
        project.WriteFile("docker-compose.yml", "2.3.1", "drtest/app-logs");
        project.WriteFile("docker-compose.previous.yml", "2.2.9", "drtest/app-logs");
        project.Up();

        var result = await RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml" }), project.Git.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        var compared = ContainerLogTests.Compared(project.Git.State(), result);
        // Both services: web's 2.3.1 log and worker's drtest/app (which prints nothing), then web's 2.2.9 log and worker's.
        Assert.Equal(2, compared.Sources.Count);
        Assert.True(compared.Verdict == LogVerdict.Spike, $"{compared.Verdict}: {compared.Reason}");
        Assert.Equal((4, 10, 5, 6), (compared.BeforeErrorLines, compared.BeforeLines, compared.AfterErrorLines, compared.AfterLines));
        var item = Checklist.Build(project.Git.State(), result).Single(i => i.Item == "No error spikes in logs");
        Assert.False(item.Done);
        Assert.Equal("spike: 5 error lines in 6 after the rollback against 4 in 10 before", item.Evidence);
    }
}
