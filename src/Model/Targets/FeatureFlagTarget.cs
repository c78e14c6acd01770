using System.Text.Json.Serialization;

namespace DeploymentRollback;

/// <summary>One feature flag in a flag service or a flag file (the kill switch).</summary>
public sealed record FeatureFlagTarget : DeploymentTarget
{
    /// <summary>Http, Unleash, LaunchDarkly, Flagd or FeatureManagement.</summary>
    public string? Provider { get; init; }
    public string? Flag { get; init; }
    /// <summary>The flag service's address (Http: the endpoint itself).</summary>
    public Uri? ServiceUri { get; init; }
    /// <summary>The flag file (Flagd, FeatureManagement).</summary>
    public string? Path { get; init; }
    public string? Project { get; init; }
    public string? Environment { get; init; }
    /// <summary>The API token; never logged, written or carried on.</summary>
    [JsonIgnore]
    public string? ApiToken { get; init; }
    /// <summary>Http: the method, extra headers and body template ({flag} and {enabled} are filled in).</summary>
    public string HttpMethod { get; init; } = "POST";
    [JsonIgnore]
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    public string? BodyTemplate { get; init; }
    /// <summary>Turn the flag back to the state recorded before it was switched off.</summary>
    public bool Restore { get; init; }

    /// <summary>Headers may carry credentials, and the address its user info: neither is carried on.</summary>
    public override DeploymentTarget WithoutSecrets(Func<string, string> redactText) => this with
    {
        ApiToken = null,
        Headers = new Dictionary<string, string>(),
        ServiceUri = ServiceUri is null ? null : new Uri(redactText(new UriBuilder(ServiceUri) { UserName = "", Password = "" }.Uri.ToString())),
    };
}
