using System.Text;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.FeatureFlag;

/// <summary>Flag files changed in place (only the switched value), restored byte for byte, never from a redacted copy; HTTP flag addresses kept out of target keys.</summary>
public class FlagFileFidelityTests
{
    private const string Flagd = """
        {
          // flags for the shop: edited by hand, keep the comments
          "$schema": "https://flagd.dev/schema/v0/flags.json",
          "flags": {
            "new-checkout": {
              "state": "ENABLED",
              "variants": { "on": true,   "off": false },
              "defaultVariant": "on",
              "targeting": { "if": [ { "in": ["@beta.example", { "var": "email" }] }, "on", "off" ] }
            },
            "dark-mode": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" }, // trailing comma next
          }
        }

        """;

    [Fact]
    public async Task A_flagd_switch_changes_only_the_switched_values_and_Restore_puts_back_every_byte()
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("flags.json");
        File.WriteAllText(file, Flagd);
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "new-checkout", Path = file } };

        var off = await RollbackEngine.InvokeAsync(request, git.Context());
        var afterOff = File.ReadAllText(file);
        var restored = await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        var expectedOff = Flagd.Replace("\"defaultVariant\": \"on\",\n      \"targeting\": { \"if\": [ { \"in\": [\"@beta.example\", { \"var\": \"email\" }] }, \"on\", \"off\" ] }",
            "\"defaultVariant\": \"off\",\n      \"targeting\": {}");
        Assert.Equal(expectedOff, afterOff);
        Assert.Equal(RollbackOutcome.Succeeded, restored!.Outcome);
        Assert.Equal(Flagd, File.ReadAllText(file));
    }

    [Fact]
    public async Task Restore_never_writes_a_redacted_value_into_a_live_flag_file()
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("flags.json");
        const string flags = """{ "flags": { "new-checkout": { "variants": { "on": true, "off": false }, "defaultVariant": "on", "targeting": { "if": [ { "==": [ { "var": "api_token" }, "tok-1234" ] }, "on", "off" ] }, "metadata": { "webhook_secret": "whsec-live-42" } } } }""";
        File.WriteAllText(file, flags);
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "new-checkout", Path = file } };

        await RollbackEngine.InvokeAsync(request, git.Context());
        var restored = await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        // The secret is in the live file (outside the switched values), so the redacted copy is filled from it exactly.
        Assert.Equal(RollbackOutcome.Succeeded, restored!.Outcome);
        Assert.Equal(flags, File.ReadAllText(file));
        Assert.DoesNotContain(SecretRedactor.Mask, File.ReadAllText(file));
        foreach (var state in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain("whsec-live-42", Encoding.UTF8.GetString(File.ReadAllBytes(state)));
        }
    }

    [Fact]
    public async Task Restore_refuses_when_a_recorded_secret_is_gone_from_the_live_file()
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("flags.json");
        File.WriteAllText(file, """{ "flags": { "new-checkout": { "variants": { "on": true, "off": false }, "defaultVariant": "on", "metadata": { "webhook_secret": "whsec-live-42" } } } }""");
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Flagd", Flag = "new-checkout", Path = file } };
        await RollbackEngine.InvokeAsync(request, git.Context());
        var edited = """{ "flags": { "new-checkout": { "variants": { "on": true, "off": false }, "defaultVariant": "off" } } }""";
        File.WriteAllText(file, edited);

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context()));

        Assert.Equal(ErrorIds.FlagRestoreStateMissing, error.ErrorId);
        Assert.Equal(edited, File.ReadAllText(file));
    }

    [Fact]
    public async Task A_FeatureManagement_switch_keeps_comments_formatting_and_the_BOM()
    {
        using var git = new GitFixture();
        var file = git.Temp.Combine("appsettings.json");
        const string settings = "{\n  // feature switches\n  \"FeatureManagement\": {\n    \"NewCheckout\":   true,  // the new flow\n    \"DarkMode\": true\n  },\n  \"Logging\": { \"LogLevel\": { \"Default\": \"Information\" } }\n}\n";
        byte[] original = [.. new UTF8Encoding(true).GetPreamble(), .. Encoding.UTF8.GetBytes(settings)];
        File.WriteAllBytes(file, original);
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "FeatureManagement", Flag = "NewCheckout", Path = file } };

        await RollbackEngine.InvokeAsync(request, git.Context());
        var afterOff = File.ReadAllBytes(file);
        await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        Assert.Equal([.. new UTF8Encoding(true).GetPreamble(), .. Encoding.UTF8.GetBytes(settings.Replace("\"NewCheckout\":   true,", "\"NewCheckout\":   false,"))], afterOff);
        Assert.Equal(original, File.ReadAllBytes(file));
    }

    [Fact]
    public void Credentials_in_an_Http_flag_uri_never_become_part_of_the_target_key_and_ftp_is_refused_up_front()
    {
        using var git = new GitFixture();
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Http", Flag = "new-checkout", ServiceUri = new Uri("https://admin:flag-pass-77@flags.example.com/api/flags?token=query-tok-88") } };

        var target = StrategyRegistry.Open(request, git.Context()).Target;
        var ftp = Assert.Throws<RollbackException>(() => StrategyRegistry.Open(request.WithTarget<FeatureFlagTarget>(t => t with { ServiceUri = new Uri("ftp://flags.example.com/flags") }), git.Context()));

        Assert.Equal("flag:http:https://flags.example.com/api/flags#new-checkout", target.Key);
        Assert.DoesNotContain("flag-pass-77", target.Location);
        Assert.Equal(ErrorIds.FeatureFlagUriInvalid, ftp.ErrorId);
    }

    [Fact]
    public async Task Http_Restore_with_a_path_given_switches_back_on_instead_of_failing_on_the_checkpoint()
    {
        using var git = new GitFixture();
        string? authorization = null;
        using var server = new LocalHttpServer((request, _) =>
        {
            authorization = request.Headers["Authorization"];
            return (200, "{}");
        });
        var uri = new UriBuilder(server.Url("/flags")) { UserName = "admin", Password = "flag-pass-77" }.Uri;
        var request = new RollbackRequest { Deployment = new FeatureFlagTarget { Provider = "Http", Flag = "new-checkout", ServiceUri = uri, Path = git.Temp.Path } };

        var off = await RollbackEngine.InvokeAsync(request, git.Context());
        var on = await RollbackEngine.InvokeAsync(request.WithTarget<FeatureFlagTarget>(t => t with { Restore = true }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, off!.Outcome);
        Assert.Equal(RollbackOutcome.Succeeded, on!.Outcome);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:flag-pass-77")), authorization);
        foreach (var state in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain("flag-pass-77", Encoding.UTF8.GetString(File.ReadAllBytes(state)));
        }
    }
}
