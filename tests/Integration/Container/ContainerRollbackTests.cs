using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Docker;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Container;

public class ContainerRollbackTests
{
    private static RollbackRequest Request(TestContainer container, string? target = "drtest/app:2.3.0") =>
        new() { Deployment = new ContainerTarget { Name = container.Name, Timeout = TimeSpan.FromSeconds(30) }, Target = target };

    [RequiresFact(Component.Docker)]
    public async Task Assessment_reports_an_unhealthy_container_with_its_probe_output_and_logs()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.1");
        Assert.Equal("unhealthy", container.WaitForHealth("unhealthy"));

        var assessment = await RollbackEngine.AssessAsync(Request(container, null), git.Context());

        Assert.Equal(FailureType.HealthCheckFailed, assessment.FailureType);
        Assert.Equal("drtest/app:2.3.1", assessment.CurrentVersion);
        Assert.Equal("unhealthy", assessment.Facts["health"]);
        Assert.Equal("running", assessment.Facts["state"]);
        Assert.Contains(assessment.Errors, e => e.Contains("health check failed"));
        Assert.Equal($"container:{container.Name}", assessment.TargetKey);
    }

    [RequiresFact(Component.Docker)]
    public async Task Recreates_from_the_good_image_keeping_configuration_and_removes_the_failed_one_once_verified()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.1", "-e", "FEATURE=on", "--label", "team=payments", "--restart", "on-failure:3", "--memory", "64m");
        container.WaitForHealth("unhealthy");
        var request = Request(container) with { Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(container.HealthUri), Retries = 2, Interval = TimeSpan.FromMilliseconds(300) } } } };

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message + " | " + string.Join(" | ", result.Steps.Select(s => $"{s.Name}: {s.Status} {s.Message}")));
        Assert.Equal(VerificationOutcome.Passed, result.Verification);
        Assert.Equal("drtest/app:2.3.0", DockerHost.Inspect(container.Name, "{{.Config.Image}}"));
        Assert.Equal("healthy", DockerHost.Inspect(container.Name, "{{.State.Health.Status}}"));
        var env = DockerHost.Inspect(container.Name, "{{json .Config.Env}}");
        Assert.Contains("FEATURE=on", env);
        Assert.Contains($"APP_PORT={container.Port}", env);
        Assert.Contains("APP_VERSION=2.3.0", env);
        Assert.Equal("payments", DockerHost.Inspect(container.Name, "{{index .Config.Labels \"team\"}}"));
        Assert.Equal("on-failure:3", DockerHost.Inspect(container.Name, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"));
        Assert.Equal("67108864", DockerHost.Inspect(container.Name, "{{.HostConfig.Memory}}"));
        Assert.Equal("host", DockerHost.Inspect(container.Name, "{{.HostConfig.NetworkMode}}"));
        Assert.Equal(container.Name, DockerHost.Docker("ps", "-a", "--filter", $"name={container.Name}", "--format", "{{.Names}}").StandardOutput.Trim());
        Assert.Contains(result.Steps, s => s.Name.StartsWith("RemoveFailed"));

        var checkpoint = Assert.Single(new CheckpointStore(git.State()).List());
        var inspect = File.ReadAllText(Path.Combine(checkpoint.Folder, "inspect.json"));
        Assert.Contains("drtest/app:2.3.1", inspect);
        Assert.DoesNotContain("s3cr3t-token-value", inspect);
        Assert.Equal("drtest/app:2.3.0", Assert.Single(git.State().Journal.GetVerified()).Version);
    }

    [RequiresFact(Component.Docker)]
    public async Task Keeps_the_failed_container_with_KeepFailed()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.1");

        var result = await RollbackEngine.InvokeAsync(Request(container).WithTarget<ContainerTarget>(t => t with { KeepFailed = true }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        var names = DockerHost.Docker("ps", "-a", "--filter", $"name={container.Name}", "--format", "{{.Names}}").StandardOutput;
        Assert.Contains($"{container.Name}-failed-", names);
    }

    [RequiresFact(Component.Docker)]
    public async Task When_the_new_container_never_gets_healthy_the_old_one_is_put_back_and_the_result_is_Failed()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.0");
        container.WaitForHealth("healthy");
        var originalId = DockerHost.Inspect(container.Name, "{{.Id}}");

        var result = await RollbackEngine.InvokeAsync(Request(container, "drtest/app:2.3.1").WithTarget<ContainerTarget>(t => t with { Timeout = TimeSpan.FromSeconds(15) }), git.Context());

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Contains(result.Steps, s => s.Name.StartsWith("WaitHealthy") && s.Status == StepStatus.Failed && s.Message!.Contains("unhealthy"));
        var restore = Assert.Single(result.Steps, s => s.Name.StartsWith("Restore"));
        Assert.Contains("final state", restore.Output);
        Assert.Equal(originalId, DockerHost.Inspect(container.Name, "{{.Id}}"));
        Assert.Equal("true", DockerHost.Inspect(container.Name, "{{.State.Running}}"));
        Assert.Equal(container.Name, DockerHost.Docker("ps", "-a", "--filter", $"name={container.Name}", "--format", "{{.Names}}").StandardOutput.Trim());
    }

    [RequiresFact(Component.Docker)]
    public async Task Default_target_is_the_image_it_ran_before_and_a_second_run_is_skipped()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.0");
        await RollbackEngine.AssessAsync(Request(container, null), git.Context());
        // "Deploy" 2.3.1 by hand, as a user would.
        DockerHost.DockerOk("rm", "-f", container.Name);
        DockerHost.DockerOk("run", "-d", "--init", "--network", "host", "--name", container.Name, "-e", $"APP_PORT={container.Port}", "drtest/app:2.3.1");

        var assessment = await RollbackEngine.AssessAsync(Request(container, null), git.Context());
        var result = await RollbackEngine.InvokeAsync(Request(container, null), git.Context());
        var again = await RollbackEngine.InvokeAsync(Request(container, null), git.Context());

        Assert.Equal("drtest/app:2.3.0", assessment.LastGoodVersion);
        Assert.Equal("the image it ran before", assessment.LastGoodSource);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
    }

    [RequiresFact(Component.Docker)]
    public async Task Errors_name_what_is_missing_and_change_nothing()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.1");
        var id = DockerHost.Inspect(container.Name, "{{.Id}}");

        var missingImage = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(container, "drtest/app:9.9.9"), git.Context()));
        var missingContainer = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ContainerTarget { Name = "drtest-no-such" }, Target = "drtest/app:2.3.0" }, git.Context()));
        var noEngine = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(container).WithTarget<ContainerTarget>(t => t with { DockerHost = "unix:///tmp/no-docker-here.sock" }), git.Context()));
        var noTarget = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(container, null), git.Context()));

        Assert.Equal(ErrorIds.ContainerImageNotFound, missingImage.ErrorId);
        Assert.Contains("never pulls", missingImage.Message);
        Assert.Equal(ErrorIds.ContainerNotFound, missingContainer.ErrorId);
        Assert.Contains(container.Name, missingContainer.Message);
        Assert.Equal(ErrorIds.DockerEngineUnreachable, noEngine.ErrorId);
        Assert.Equal(ErrorIds.ContainerTargetMissing, noTarget.ErrorId);
        Assert.Equal(id, DockerHost.Inspect(container.Name, "{{.Id}}"));
        Assert.Empty(git.State().Journal.GetAttempts());
    }

    [RequiresFact(Component.Docker)]
    public async Task Cancelling_puts_the_failed_container_back_and_records_the_attempt()
    {
        using var git = new GitFixture();
        using var container = new TestContainer("drtest/app:2.3.1");
        var originalId = DockerHost.Inspect(container.Name, "{{.Id}}");
        using var cancel = new CancellationTokenSource();
        var smoke = new ScriptAction("slow smoke test", async token =>
        {
            cancel.Cancel();
            await Task.Delay(TimeSpan.FromSeconds(30), token);
            return new ScriptOutcome(true, "", 0);
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RollbackEngine.InvokeAsync(Request(container) with { Verification = new VerificationOptions { SmokeTests = new[] { smoke } } }, git.Context(cancellation: cancel.Token)));

        Assert.Equal(originalId, DockerHost.Inspect(container.Name, "{{.Id}}"));
        Assert.Equal("true", DockerHost.Inspect(container.Name, "{{.State.Running}}"));
        Assert.Equal(container.Name, DockerHost.Docker("ps", "-a", "--filter", $"name={container.Name}", "--format", "{{.Names}}").StandardOutput.Trim());
        var attempt = Assert.Single(git.State().Journal.GetAttempts());
        Assert.Contains("Cancelled", attempt.Message);
        Assert.Contains(attempt.Steps, s => s.Name.StartsWith("Restore"));
    }
}
