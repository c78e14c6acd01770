using System.Text.Json.Nodes;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.FeatureFlag;

public class FeatureFlagTests
{
    private const string Token = "api-0123456789abcdef-secret";

    private static RollbackRequest Flag(string provider, string flag = "new-checkout") => new() { Deployment = new FeatureFlagTarget { Provider = provider, Flag = flag, ApiToken = Token } };

    /// <summary>Every file the state directory holds, to prove the token is in none of them.</summary>
    private static void AssertTokenNowhere(GitFixture git)
    {
        foreach (var file in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(Token, File.ReadAllText(file));
        }
    }

    [Fact]
    public async Task Http_sends_the_spec_call_and_a_second_run_is_skipped()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((request, _) => request.Headers["Authorization"] == Token ? (200, "{}") : (401, "no"));
        var request = Flag("Http").WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri(server.Url("/flags")) });

        var result = await RollbackEngine.InvokeAsync(request, git.Context());
        var again = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        var call = Assert.Single(server.Requests);
        Assert.Equal("POST", call.Method);
        Assert.Equal("/flags", call.Path);
        Assert.StartsWith("application/json", call.ContentType);
        Assert.Equal(false, (bool?)JsonNode.Parse(call.Body)!["enabled"]);
        Assert.Equal("new-checkout", (string?)JsonNode.Parse(call.Body)!["feature"]);
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
        AssertTokenNowhere(git);
    }

    [Fact]
    public async Task Http_method_headers_and_body_are_configurable()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((request, _) => request.Headers["X-Team"] == "payments" ? (204, "") : (400, "missing header"));
        var request = Flag("Http").WithTarget<FeatureFlagTarget>(t => t with
        {
            ServiceUri = new Uri(server.Url("/toggles/new-checkout")),
            HttpMethod = "PUT",
            Headers = new Dictionary<string, string> { ["X-Team"] = "payments" },
            BodyTemplate = "{\"name\":\"{flag}\",\"on\":{enabled}}",
        });

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(("PUT", "{\"name\":\"new-checkout\",\"on\":false}"), (server.Requests[0].Method, server.Requests[0].Body));
    }

    [Fact]
    public async Task A_refused_token_or_an_unreachable_service_is_a_clear_error_and_nothing_is_recorded()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (403, "forbidden"));

        var refused = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.AssessAsync(Flag("LaunchDarkly").WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri(server.Url("/")), Project = "shop", Environment = "production" }), git.Context()));
        // A write-only endpoint cannot be read first: the switch itself fails, and the result names the error.
        var unreachable = await RollbackEngine.InvokeAsync(Flag("Http").WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri($"http://127.0.0.1:{LocalHttpServer.FreePort()}/flags") }), git.Context());
        var missing = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Flag("Unleash").WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri(server.Url("/")) }), git.Context()));

        Assert.Equal(ErrorIds.FlagServiceUnauthorized, refused.ErrorId);
        Assert.DoesNotContain(Token, refused.Message);
        Assert.Equal(RollbackOutcome.Failed, unreachable!.Outcome);
        Assert.Equal(ErrorIds.FlagServiceUnreachable, unreachable.Steps.Single(s => s.Status == StepStatus.Failed).ErrorId);
        Assert.Equal(ErrorIds.FlagParameterMissing, missing.ErrorId);
        Assert.Contains("-Project", missing.Message);
        Assert.Single(git.State().Journal.GetAttempts());
    }

    [Fact]
    public async Task LaunchDarkly_gets_exactly_the_documented_semantic_patch_and_can_be_restored()
    {
        using var git = new GitFixture();
        var on = true;
        using var server = new LocalHttpServer((request, body) =>
        {
            if (request.Headers["Authorization"] != Token)
            {
                return (401, "{\"code\":\"unauthorized\"}");
            }

            var path = request.Url!.AbsolutePath;
            if (request.HttpMethod == "GET" && path == "/api/v2/flags/shop/new-checkout" && request.Url.Query == "?env=production")
            {
                return (200, $"{{\"key\":\"new-checkout\",\"environments\":{{\"production\":{{\"on\":{(on ? "true" : "false")}}}}}}}");
            }

            if (request.HttpMethod == "PATCH" && path == "/api/v2/flags/shop/new-checkout"
                && request.ContentType == "application/json; domain-model=launchdarkly.semanticpatch"
                && JsonNode.Parse(body) is JsonObject patch && (string?)patch["environmentKey"] == "production"
                && patch["instructions"] is JsonArray { Count: 1 } instructions && (string?)instructions[0]!["kind"] is "turnFlagOff" or "turnFlagOn")
            {
                on = (string?)instructions[0]!["kind"] == "turnFlagOn";
                return (200, "{\"key\":\"new-checkout\"}");
            }

            return (400, "{\"code\":\"invalid_request\"}");
        });
        var request = Flag("LaunchDarkly").WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri(server.Url("/")), Project = "shop", Environment = "production" });

        var assessment = await RollbackEngine.AssessAsync(request, git.Context());
        var off = await RollbackEngine.InvokeAsync(request, git.Context());
        var skipped = await RollbackEngine.InvokeAsync(request, git.Context());
        var restored = await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        Assert.Equal("enabled", assessment.CurrentVersion);
        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        Assert.Contains("read back", off.Steps.Single(s => s.Name.StartsWith("SwitchFlag")).Message);
        Assert.Equal(RollbackOutcome.Skipped, skipped!.Outcome);
        Assert.Equal(RollbackOutcome.Succeeded, restored!.Outcome);
        Assert.True(on);
        Assert.Equal(2, server.Requests.Count(r => r.Method == "PATCH"));
        AssertTokenNowhere(git);
    }

    /// <summary>
    /// An Unleash whose environment endpoint answers 404 (a server without it) or something else than the environment
    /// (a proxy's page): the flag is read through the whole feature instead, as the real server answers it. The real
    /// server's own answers are tested in UnleashFlagTests; an older server cannot run here.
    /// </summary>
    [Theory]
    [InlineData(404, """{"name":"NotFoundError","message":"Not found"}""")]
    [InlineData(200, "<html>maintenance</html>")]
    public async Task Unleash_without_the_environment_endpoint_is_read_through_the_whole_feature(int status, string environmentAnswer)
    {
        using var git = new GitFixture();
        var on = true;
        const string feature = "/api/admin/projects/default/features/new-checkout";
        using var server = new LocalHttpServer((request, _) =>
        {
            switch (request.HttpMethod, request.Url!.AbsolutePath)
            {
                case ("GET", feature + "/environments/production"):
                    return (status, environmentAnswer);
                case ("GET", feature):
                    return (200, $$"""{"name":"new-checkout","project":"default","environments":[{"name":"development","enabled":true},{"name":"production","enabled":{{(on ? "true" : "false")}},"strategies":[]}]}""");
                case ("POST", feature + "/environments/production/off"):
                    on = false;
                    return (200, "");
                default:
                    return (400, "unexpected");
            }
        });
        var request = Flag("Unleash").WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri(server.Url("/")), Project = "default", Environment = "production" });

        var off = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        Assert.Equal("enabled", off.FromVersion);
        Assert.False(on);
        Assert.Equal(
            new[] { ("GET", feature + "/environments/production"), ("GET", feature), ("POST", feature + "/environments/production/off") },
            server.Requests.Take(3).Select(r => (r.Method, r.Path)));
        var definition = JsonNode.Parse(File.ReadAllText(Path.Combine(git.State().CheckpointsDirectory, off.CheckpointName!, "flag-definition.json")));
        Assert.Equal("production", (string?)definition?["name"]);
        Assert.True((bool?)definition?["enabled"]);
    }

    [Fact]
    public async Task Flagd_file_flag_is_made_to_evaluate_off_the_rest_untouched_and_restored_from_the_checkpoint()
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("flags.json");
        File.WriteAllText(file, """
            {
              "$schema": "https://flagd.dev/schema/v0/flags.json",
              "flags": {
                "new-checkout": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on",
                                  "targeting": { "if": [ { "in": ["@beta.example", { "var": "email" }] }, "on", "off" ] } },
                "dark-mode": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" }
              }
            }
            """);
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "new-checkout", Path = file } };

        var off = await RollbackEngine.InvokeAsync(request, git.Context());
        var afterOff = JsonNode.Parse(File.ReadAllText(file))!;
        var skipped = await RollbackEngine.InvokeAsync(request, git.Context());
        var restored = await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());
        var afterRestore = JsonNode.Parse(File.ReadAllText(file))!;

        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        Assert.Equal("off", (string?)afterOff["flags"]!["new-checkout"]!["defaultVariant"]);
        Assert.Empty(afterOff["flags"]!["new-checkout"]!["targeting"]!.AsObject());
        Assert.Equal("on", (string?)afterOff["flags"]!["dark-mode"]!["defaultVariant"]);
        Assert.Equal("https://flagd.dev/schema/v0/flags.json", (string?)afterOff["$schema"]);
        Assert.Equal(RollbackOutcome.Skipped, skipped!.Outcome);
        Assert.Equal(RollbackOutcome.Succeeded, restored!.Outcome);
        Assert.Equal("on", (string?)afterRestore["flags"]!["new-checkout"]!["defaultVariant"]);
        Assert.NotNull(afterRestore["flags"]!["new-checkout"]!["targeting"]);
    }

    [Theory]
    [InlineData("""{ "FeatureManagement": { "NewCheckout": true, "DarkMode": true } }""")]
    [InlineData("""{ "FeatureManagement": { "NewCheckout": { "EnabledFor": [ { "Name": "Percentage", "Parameters": { "Value": 50 } } ] } } }""")]
    [InlineData("""{ "feature_management": { "feature_flags": [ { "id": "NewCheckout", "enabled": true } ] } }""")]
    public async Task FeatureManagement_settings_turn_the_flag_off_and_restore_it(string settings)
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("appsettings.json");
        File.WriteAllText(file, settings);
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "FeatureManagement", Flag = "NewCheckout", Path = file } };

        var off = await RollbackEngine.InvokeAsync(request, git.Context());
        var state = (await RollbackEngine.AssessAsync(request, git.Context())).CurrentVersion;
        var restored = await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        Assert.Equal("disabled", state);
        Assert.Equal(RollbackOutcome.Succeeded, restored!.Outcome);
        Assert.Equal(JsonNode.Parse(settings)!.ToJsonString(), JsonNode.Parse(File.ReadAllText(file))!.ToJsonString());
    }

    [Fact]
    public async Task A_rollback_that_waited_for_the_lock_reads_the_flag_again_instead_of_its_first_reading()
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("appsettings.json");
        File.WriteAllText(file, """{ "FeatureManagement": { "NewCheckout": true } }""");
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "FeatureManagement", Flag = "NewCheckout", Path = file }, LockTimeout = TimeSpan.FromSeconds(30) };
        string key;
        await using (var session = StrategyRegistry.Open(request, git.Context()))
        {
            key = session.Target.Key;
        }

        Task<RollbackResult?> rollback;
        using (await git.State().Store.AcquireLockAsync(key, TimeSpan.Zero, new RecordingObserver(), default))
        {
            // The rollback opens its session (which starts reading the flag: on) and waits for the lock; meanwhile the
            // holder turns the flag off, and keeps the lock for longer than a first reading may be used.
            rollback = Task.Run(() => RollbackEngine.InvokeAsync(request, git.Context()));
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            File.WriteAllText(file, """{ "FeatureManagement": { "NewCheckout": false } }""");
            await Task.Delay(TimeSpan.FromSeconds(2.5));
        }

        var result = await rollback;

        Assert.Equal(RollbackOutcome.Skipped, result!.Outcome);
        Assert.Equal("disabled", result.FromVersion);
    }

    [Fact]
    public async Task A_malformed_or_unknown_flag_file_changes_nothing()
    {
        using var git = new GitFixture();
        var broken = git.Temp.Combine("broken.json");
        File.WriteAllText(broken, "{ \"flags\": { \"new-checkout\": ");
        var other = git.Temp.Combine("flags.json");
        File.WriteAllText(other, "{ \"flags\": { \"dark-mode\": { \"variants\": { \"on\": true, \"off\": false }, \"defaultVariant\": \"on\" } } }");

        var invalid = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "new-checkout", Path = broken } }, git.Context()));
        var unknown = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "new-checkout", Path = other } }, git.Context()));
        var noRestore = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "dark-mode", Path = other, Restore = true } }, git.Context()));

        Assert.Equal(ErrorIds.FlagFileInvalid, invalid.ErrorId);
        Assert.Equal(ErrorIds.FlagNotFound, unknown.ErrorId);
        Assert.Contains("dark-mode", unknown.Message);
        Assert.Equal(ErrorIds.FlagRestoreStateMissing, noRestore.ErrorId);
        Assert.Equal("{ \"flags\": { \"new-checkout\": ", File.ReadAllText(broken));
    }
}
