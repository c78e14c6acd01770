using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.FeatureFlag;

public static class UnleashServer
{
    public static string? Url => Environment.GetEnvironmentVariable("DEPLOYMENT_ROLLBACK_UNLEASH_URL");
    public static string AdminToken => Environment.GetEnvironmentVariable("DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN") ?? "";
    public static string Project => Environment.GetEnvironmentVariable("DEPLOYMENT_ROLLBACK_UNLEASH_PROJECT") ?? "default";
    public static string EnvironmentName => Environment.GetEnvironmentVariable("DEPLOYMENT_ROLLBACK_UNLEASH_ENVIRONMENT") ?? "development";

    /// <summary>A flag of its own for one test, enabled in the test environment, made through the admin API.</summary>
    public static async Task<string> NewEnabledFlagAsync()
    {
        var name = "dr-" + Guid.NewGuid().ToString("N")[..10];
        using var client = Client();
        (await client.PostAsJsonAsync($"{Url}/api/admin/projects/{Project}/features", new { name, type = "release" })).EnsureSuccessStatusCode();
        (await client.PostAsync($"{Url}/api/admin/projects/{Project}/features/{name}/environments/{EnvironmentName}/on", null)).EnsureSuccessStatusCode();
        return name;
    }

    public static async Task<bool?> EnabledAsync(string flag)
    {
        using var client = Client();
        var feature = JsonNode.Parse(await client.GetStringAsync($"{Url}/api/admin/projects/{Project}/features/{flag}"));
        return (bool?)(feature?["environments"] as JsonArray)?.First(e => (string?)e?["name"] == EnvironmentName)?["enabled"];
    }

    private static HttpClient Client()
    {
        var client = new HttpClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", AdminToken);
        return client;
    }
}

public class UnleashFlagTests
{
    private static RollbackRequest Request(string flag) => new()
    {
        Deployment = new FeatureFlagTarget { Provider = "Unleash", Flag = flag, ServiceUri = new Uri(UnleashServer.Url ?? "http://127.0.0.1:1"), Project = UnleashServer.Project, Environment = UnleashServer.EnvironmentName, ApiToken = UnleashServer.AdminToken },
    };

    [RequiresFact(Component.Unleash)]
    public async Task Turns_the_flag_off_in_the_real_server_and_back_on_with_Restore()
    {
        using var git = new GitFixture();
        var flag = await UnleashServer.NewEnabledFlagAsync();

        var assessment = await RollbackEngine.AssessAsync(Request(flag), git.Context());
        var off = await RollbackEngine.InvokeAsync(Request(flag), git.Context());
        var offState = await UnleashServer.EnabledAsync(flag);
        var skipped = await RollbackEngine.InvokeAsync(Request(flag), git.Context());
        var restored = await RollbackEngine.InvokeAsync(Request(flag).WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        Assert.Equal("enabled", assessment.CurrentVersion);
        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        Assert.False(offState);
        Assert.Equal(RollbackOutcome.Skipped, skipped!.Outcome);
        Assert.Equal(RollbackOutcome.Succeeded, restored!.Outcome);
        Assert.True(await UnleashServer.EnabledAsync(flag));
        // The checkpoint keeps the switched environment's state as Unleash reported it before the switch.
        var definition = JsonNode.Parse(File.ReadAllText(Path.Combine(git.State().CheckpointsDirectory, off.CheckpointName!, "flag-definition.json")));
        Assert.Equal(UnleashServer.EnvironmentName, (string?)definition?["environment"]);
        Assert.True((bool?)definition?["enabled"]);
        foreach (var file in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(UnleashServer.AdminToken, File.ReadAllText(file));
        }
    }

    [RequiresFact(Component.Unleash)]
    public async Task A_wrong_token_an_unknown_flag_project_or_environment_each_has_its_own_error_and_nothing_changes()
    {
        using var git = new GitFixture();
        var flag = await UnleashServer.NewEnabledFlagAsync();

        var wrongToken = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(flag).WithTarget<FeatureFlagTarget>(t => t with { ApiToken = "*:*.not-the-token" }), git.Context()));
        var unknownFlag = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request("no-such-flag-" + flag), git.Context()));
        var unknownProject = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(flag).WithTarget<FeatureFlagTarget>(t => t with { Project = "no-such-project" }), git.Context()));
        var unknownEnvironment = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(flag).WithTarget<FeatureFlagTarget>(t => t with { Environment = "no-such-env" }), git.Context()));

        Assert.Equal(ErrorIds.FlagServiceUnauthorized, wrongToken.ErrorId);
        Assert.Equal(ErrorIds.FlagNotFound, unknownFlag.ErrorId);
        Assert.Equal(ErrorIds.FlagProjectNotFound, unknownProject.ErrorId);
        Assert.Equal(ErrorIds.FlagEnvironmentNotFound, unknownEnvironment.ErrorId);
        Assert.True(await UnleashServer.EnabledAsync(flag));
        Assert.Empty(git.State().Journal.GetAttempts());
    }
}
