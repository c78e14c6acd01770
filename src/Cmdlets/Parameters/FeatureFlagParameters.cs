using System.Collections;
using System.Management.Automation;
using System.Security;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy FeatureFlag: one flag in a flag service or a flag file (the kill switch).</summary>
public sealed class FeatureFlagParameters : StrategyParameters
{
    /// <summary>The flag system.</summary>
    [Parameter]
    [ValidateSet("Http", "Unleash", "LaunchDarkly", "Flagd", "FeatureManagement", IgnoreCase = true)]
    public string? Provider { get; set; }

    /// <summary>The flag's name (its key).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Flag { get; set; }

    /// <summary>The flag service's address (Http: the endpoint itself; LaunchDarkly: default https://app.launchdarkly.com).</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? Uri { get; set; }

    /// <summary>The flag file (Flagd, FeatureManagement).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The project that holds the flag (Unleash, LaunchDarkly).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Project { get; set; }

    /// <summary>The environment to switch the flag in (Unleash, LaunchDarkly).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Environment { get; set; }

    /// <summary>The API token, sent as the Authorization header; never shown, logged or written.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? ApiToken { get; set; }

    /// <summary>Http: the method (default POST).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Method { get; set; } = "POST";

    /// <summary>Http: extra request headers.</summary>
    [Parameter]
    public Hashtable? Header { get; set; }

    /// <summary>Http: the request body; {flag} and {enabled} are filled in.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? BodyTemplate { get; set; }

    /// <summary>Turn the flag back to the state recorded before it was switched off.</summary>
    [Parameter, RollbackOption]
    public SwitchParameter Restore { get; set; }

    /// <summary>Http: basic authentication for the endpoint, when no -ApiToken is given; never logged or written.</summary>
    [Parameter, RollbackOption]
    [Credential]
    public PSCredential? Credential { get; set; }

    public override bool TakesTargetVersion => false;

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths)
    {
        var earlier = piped as FeatureFlagTarget;
        var provider = Provider ?? earlier?.Provider;
        return new FeatureFlagTarget
        {
            Provider = provider,
            Flag = Flag ?? earlier?.Flag,
            ServiceUri = Uri ?? earlier?.ServiceUri,
            Path = Path is not null ? paths.Resolve(Path) : earlier?.Path,
            Project = Project ?? earlier?.Project,
            Environment = Environment ?? earlier?.Environment,
            ApiToken = Plain(ApiToken) ?? BasicAuthorization(provider),
            HttpMethod = Method,
            Headers = ToDictionary(Header) ?? new Dictionary<string, string>(),
            BodyTemplate = BodyTemplate,
            Restore = Restore,
        };
    }

    private string? BasicAuthorization(string? provider) => Credential is null || !"Http".Equals(provider, StringComparison.OrdinalIgnoreCase)
        ? null
        : "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Credential.UserName}:{Plain(Credential.Password)}"));
}
