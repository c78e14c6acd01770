using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Docker;
using Xunit;

namespace DeploymentRollback.Tests.Integration.DockerCompose;

/// <summary>A Compose project (web + worker, host networking on free loopback ports) in a temp folder, taken down after the test.</summary>
public sealed class ComposeProject : IDisposable
{
    public ComposeProject()
    {
        Folder = Git.Temp.Combine("project");
        Directory.CreateDirectory(Folder);
        Name = "drtest" + Guid.NewGuid().ToString("N")[..8];
        WebPort = LocalHttpServer.FreePort();
        WorkerPort = LocalHttpServer.FreePort();
        WriteFile("docker-compose.yml", "2.3.1");
        WriteFile("docker-compose.previous.yml", "2.3.0");
    }

    public GitFixture Git { get; } = new();
    public string Folder { get; }
    public string Name { get; }
    public int WebPort { get; }
    public int WorkerPort { get; }

    /// <summary>web runs webRepository:webVersion, worker drtest/app:2.3.0 (with a repository, its own version of the app).</summary>
    public void WriteFile(string file, string webVersion, string webRepository = "drtest/app", string workerRepository = "drtest/app") => File.WriteAllText(Path.Combine(Folder, file), $"""
        version: "2.4"
        services:
          web:
            image: {webRepository}:{webVersion}
            network_mode: host
            init: true
            environment:
              APP_PORT: "{WebPort}"
              DB_PASSWORD: "hunter2-compose"
          worker:
            image: {workerRepository}:2.3.0
            network_mode: host
            init: true
            environment:
              APP_PORT: "{WorkerPort}"
        """);

    public void Up(string? file = null)
    {
        var arguments = new List<string> { "-p", Name };
        if (file is not null)
        {
            arguments.AddRange(new[] { "-f", file });
        }

        arguments.AddRange(new[] { "up", "-d" });
        var run = ProcessRunner.RunAsync(new ProcessRequest("docker-compose", arguments) { WorkingDirectory = Folder, Timeout = TimeSpan.FromMinutes(2) }, default).GetAwaiter().GetResult();
        Assert.True(run.ExitCode == 0, run.CombinedOutput);
    }

    public string ContainerOf(string service) => DockerHost.DockerOk("ps", "-aq", "--no-trunc", "--filter", $"label=com.docker.compose.project={Name}", "--filter", $"label=com.docker.compose.service={service}");

    public RollbackRequest Request() => new() { Deployment = new DockerComposeTarget { Path = Folder, ProjectName = Name, Timeout = TimeSpan.FromSeconds(30) } };

    public void Dispose()
    {
        foreach (var id in DockerHost.Docker("ps", "-aq", "--filter", $"label=com.docker.compose.project={Name}").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            DockerHost.Docker("rm", "-f", id);
        }

        Git.Dispose();
    }
}

public class ComposeRollbackTests
{
    [RequiresFact(Component.Docker)]
    public async Task Rolls_the_project_back_to_the_previous_file_and_waits_until_healthy()
    {
        using var project = new ComposeProject();
        project.Up();

        var assessment = await RollbackEngine.AssessAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml" }), project.Git.Context());
        var result = await RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml" }), project.Git.Context());

        Assert.Contains("web=drtest/app:2.3.1", assessment.CurrentVersion);
        Assert.Equal("previous file docker-compose.previous.yml", assessment.LastGoodVersion);
        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message + " | " + string.Join(" | ", result.Steps.Select(s => $"{s.Name}: {s.Status} {s.Message} {s.Output}")));
        Assert.Equal("drtest/app:2.3.0", DockerHost.Inspect(project.ContainerOf("web"), "{{.Config.Image}}"));
        Assert.Equal("healthy", DockerHost.Inspect(project.ContainerOf("web"), "{{.State.Health.Status}}"));
        var checkpoint = Assert.Single(new CheckpointStore(project.Git.State()).List());
        Assert.True(File.Exists(Path.Combine(checkpoint.Folder, "services", "web", "inspect.json")));
        Assert.DoesNotContain("hunter2-compose", File.ReadAllText(Path.Combine(checkpoint.Folder, "compose.config.yml")));
    }

    [RequiresFact(Component.Docker)]
    public async Task A_rerun_reuses_the_checked_configurations_and_a_changed_target_file_is_checked_again()
    {
        using var project = new ComposeProject();
        project.Up();
        var request = project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml" });

        var first = await RollbackEngine.InvokeAsync(request, project.Git.Context());

        Assert.True(first!.Outcome == RollbackOutcome.Succeeded, first.Message);
        // The target's and the project's 'config' answers are kept, redacted.
        var entries = Directory.GetFiles(Path.Combine(project.Git.State().Directory, "cache"), "compose-config-*");
        Assert.Equal(2, entries.Length);
        Assert.All(entries, e => Assert.DoesNotContain("hunter2-compose", File.ReadAllText(e)));
        var written = entries.ToDictionary(e => e, File.GetLastWriteTimeUtc);

        project.Up();
        var second = await RollbackEngine.InvokeAsync(request, project.Git.Context());

        Assert.True(second!.Outcome == RollbackOutcome.Succeeded, second.Message);
        Assert.Equal("drtest/app:2.3.0", DockerHost.Inspect(project.ContainerOf("web"), "{{.Config.Image}}"));
        // Answered from the kept entries (a Compose run would have written them again), and the checkpoint still has
        // the failed release's configuration.
        Assert.All(entries, e => Assert.Equal(written[e], File.GetLastWriteTimeUtc(e)));
        var checkpoint = new CheckpointStore(project.Git.State()).List().MaxBy(c => c.CreatedAt)!;
        var config = File.ReadAllText(Path.Combine(checkpoint.Folder, "compose.config.yml"));
        Assert.Contains("drtest/app:2.3.1", config);
        Assert.DoesNotContain("hunter2-compose", config);

        // The previous file changed to an image this engine does not have: checked again, refused before anything changes.
        project.Up();
        var web = project.ContainerOf("web");
        project.WriteFile("docker-compose.previous.yml", "0.0.404");
        var refused = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(request, project.Git.Context()));

        Assert.Equal(ErrorIds.ContainerImageNotFound, refused.ErrorId);
        Assert.Contains("drtest/app:0.0.404", refused.Message);
        Assert.Equal(web, project.ContainerOf("web"));
    }

    [RequiresFact(Component.Docker)]
    public async Task A_target_file_that_interpolates_is_checked_by_Compose_every_time()
    {
        using var project = new ComposeProject();
        project.Up();
        var previous = Path.Combine(project.Folder, "docker-compose.previous.yml");
        File.WriteAllText(previous, File.ReadAllText(previous).Replace("drtest/app:2.3.0", "drtest/app:${WEB_TAG:-2.3.0}"));

        var result = await RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml" }), project.Git.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        Assert.Equal("drtest/app:2.3.0", DockerHost.Inspect(project.ContainerOf("web"), "{{.Config.Image}}"));
        // Only the project's own file (no interpolation) is kept.
        var kept = Assert.Single(Directory.GetFiles(Path.Combine(project.Git.State().Directory, "cache"), "compose-config-*"));
        Assert.Contains("drtest/app:2.3.1", File.ReadAllText(kept));
    }

    [RequiresFact(Component.Docker)]
    public async Task Partial_rollback_touches_only_the_named_service()
    {
        using var project = new ComposeProject();
        project.Up();
        var worker = project.ContainerOf("worker");

        var result = await RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml", Services = new[] { "web" } }), project.Git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(worker, project.ContainerOf("worker"));
        Assert.Equal("drtest/app:2.3.0", DockerHost.Inspect(project.ContainerOf("web"), "{{.Config.Image}}"));
    }

    [RequiresFact(Component.Docker)]
    public async Task Without_a_previous_file_it_restores_the_configuration_captured_when_verified_good_pinned_by_image_id()
    {
        using var project = new ComposeProject();
        project.Up("docker-compose.previous.yml");
        var healthy = new HealthCheckOptions { Uri = new Uri($"http://127.0.0.1:{project.WebPort}/health"), Retries = 20, Interval = TimeSpan.FromMilliseconds(250) };
        var recorded = await RollbackEngine.TestHealthAsync(project.Request() with { Verification = new VerificationOptions { HealthChecks = new[] { healthy } } }, null, recordVerified: true, signalOnFailure: false, project.Git.Context());
        Assert.True(recorded.Healthy);
        var goodImage = DockerHost.Inspect("drtest/app:2.3.0", "{{.Id}}");
        project.Up();
        Assert.Equal("drtest/app:2.3.1", DockerHost.Inspect(project.ContainerOf("web"), "{{.Config.Image}}"));

        var result = await RollbackEngine.InvokeAsync(project.Request() with { Verification = new VerificationOptions { HealthChecks = new[] { healthy } } }, project.Git.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        Assert.Equal(goodImage, DockerHost.Inspect(project.ContainerOf("web"), "{{.Image}}"));
        var snapshot = project.Git.State().Journal.GetVerified().First().Snapshot!;
        Assert.DoesNotContain("hunter2-compose", File.ReadAllText(Path.Combine(snapshot, "compose.config.yml")));
    }

    [RequiresFact(Component.Docker)]
    public async Task A_target_that_never_gets_healthy_makes_the_rollback_Failed()
    {
        using var project = new ComposeProject();
        project.WriteFile("docker-compose.bad.yml", "2.3.1");
        project.Up("docker-compose.previous.yml");

        var result = await RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.bad.yml", Timeout = TimeSpan.FromSeconds(15) }), project.Git.Context());

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Contains(result.Steps, s => s.Name.StartsWith("WaitHealthy") && s.Status == StepStatus.Failed);
        Assert.NotEqual("", project.ContainerOf("web"));
    }

    [RequiresFact(Component.Docker)]
    public async Task Bad_input_gets_its_own_error_and_changes_nothing()
    {
        using var project = new ComposeProject();
        project.Up();
        var web = project.ContainerOf("web");
        File.WriteAllText(Path.Combine(project.Folder, "broken.yml"), "services: [this is not a mapping\n");

        var invalid = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "broken.yml" }), project.Git.Context()));
        var unknownService = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { PreviousFile = "docker-compose.previous.yml", Services = new[] { "db" } }), project.Git.Context()));
        var noTarget = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request(), project.Git.Context()));
        var noFolder = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request().WithTarget<DockerComposeTarget>(t => t with { Path = project.Folder + "-missing" }), project.Git.Context()));

        Assert.Equal(ErrorIds.ComposeFileInvalid, invalid.ErrorId);
        Assert.Equal(ErrorIds.ComposeServiceNotFound, unknownService.ErrorId);
        Assert.Contains("web, worker", unknownService.Message);
        Assert.Equal(ErrorIds.ComposeTargetMissing, noTarget.ErrorId);
        Assert.Equal(ErrorIds.ComposeProjectNotFound, noFolder.ErrorId);
        Assert.Equal(web, project.ContainerOf("web"));
    }
}
