using System.Collections;
using System.Management.Automation;
using System.Net;
using System.Security;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// The FeatureFlag and Config parameters, shared by the cmdlets that name a target as one dynamic-parameter object
/// (always offered, so they show in help and complete with Tab like static ones).
/// </summary>
public sealed class FeatureFlagParameters
{
    /// <summary>FeatureFlag: the flag system.</summary>
    [Parameter]
    [ValidateSet("Http", "Unleash", "LaunchDarkly", "Flagd", "FeatureManagement", IgnoreCase = true)]
    public string? Provider { get; set; }

    /// <summary>FeatureFlag: the flag's name (its key).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Flag { get; set; }

    /// <summary>FeatureFlag: the flag service's address (Http: the endpoint itself; LaunchDarkly: default https://app.launchdarkly.com).</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? Uri { get; set; }

    /// <summary>FeatureFlag: the environment to switch the flag in (Unleash, LaunchDarkly).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Environment { get; set; }

    /// <summary>FeatureFlag: the API token, sent as the Authorization header; never shown, logged or written.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? ApiToken { get; set; }

    /// <summary>FeatureFlag Http: the method (default POST).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Method { get; set; } = "POST";

    /// <summary>FeatureFlag Http: extra request headers.</summary>
    [Parameter]
    public Hashtable? Header { get; set; }

    /// <summary>FeatureFlag Http: the request body; {flag} and {enabled} are filled in.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? BodyTemplate { get; set; }

    /// <summary>Config: the previous copy to restore (the spec's config/app.previous.yml); relative to the config file's folder.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PreviousPath { get; set; }

    internal RollbackRequest Apply(RollbackRequest request)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in Header ?? new Hashtable())
        {
            headers[entry.Key.ToString()!] = entry.Value?.ToString() ?? "";
        }

        return request with
        {
            Provider = Provider ?? request.Provider,
            Flag = Flag ?? request.Flag,
            ServiceUri = Uri ?? request.ServiceUri,
            Environment = Environment ?? request.Environment,
            ApiToken = ApiToken is null ? null : new NetworkCredential("", ApiToken).Password,
            HttpMethod = Method,
            Headers = headers,
            BodyTemplate = BodyTemplate,
            PreviousPath = PreviousPath,
        };
    }
}
