using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine.FeatureFlag;

/// <summary>A flag's state as its provider reports it: on or off (null when the provider cannot say), and its definition.</summary>
internal sealed record FlagReading(bool? Enabled, string Document, JsonNode? Definition);

/// <summary>One flag in one flag system: read its state, switch it, or put its recorded definition back.</summary>
internal abstract class FlagProvider
{
    protected FlagProvider(RollbackRequest request)
    {
        Request = request;
        Flag = request.DeploymentAs<FeatureFlagTarget>().Flag!;
    }

    protected RollbackRequest Request { get; }
    protected string Flag { get; }

    /// <summary>Where the flag lives (service address or file), for the target's key.</summary>
    public abstract string Location { get; }

    public abstract Task<FlagReading> ReadAsync(CancellationToken cancellation);

    /// <summary>Switches the flag; a file provider given the recorded definition (its source text) puts that back instead.</summary>
    public abstract Task WriteAsync(bool enabled, string? recordedDefinition, CancellationToken cancellation);

    public static FlagProvider Create(RollbackRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.DeploymentAs<FeatureFlagTarget>().Flag))
        {
            throw Missing("-Flag with the flag's name (its key)");
        }

        return request.DeploymentAs<FeatureFlagTarget>().Provider?.ToLowerInvariant() switch
        {
            "http" => new HttpFlagProvider(request),
            "unleash" => new UnleashFlagProvider(request),
            "launchdarkly" => new LaunchDarklyFlagProvider(request),
            "flagd" => new FlagdFileProvider(request),
            "featuremanagement" => new FeatureManagementFileProvider(request),
            null => throw Missing("-Provider (Http, Unleash, LaunchDarkly, Flagd or FeatureManagement)"),
            var other => throw new RollbackException(ErrorIds.FlagParameterMissing, RollbackErrorKind.InvalidArgument,
                $"'{other}' is not a flag provider. Use Http, Unleash, LaunchDarkly, Flagd or FeatureManagement."),
        };
    }

    internal static RollbackException Missing(string what) =>
        new(ErrorIds.FlagParameterMissing, RollbackErrorKind.InvalidArgument, $"The FeatureFlag strategy needs {what}.");
}

/// <summary>HTTP with the checks the spec's curl line lacks: TLS verified unless opted out, errors mapped, token never shown.</summary>
internal abstract class ServiceFlagProvider : FlagProvider
{
    private static readonly Lazy<HttpClient> Checked = new(() => Create(false));
    private static readonly Lazy<HttpClient> Unchecked = new(() => Create(true));

    protected ServiceFlagProvider(RollbackRequest request, string? defaultUri = null)
        : base(request)
    {
        BaseUri = request.DeploymentAs<FeatureFlagTarget>().ServiceUri ?? (defaultUri is null ? throw Missing("-Uri with the flag service's address") : new Uri(defaultUri));
        if (!BaseUri.IsAbsoluteUri || (BaseUri.Scheme != Uri.UriSchemeHttp && BaseUri.Scheme != Uri.UriSchemeHttps))
        {
            throw new RollbackException(ErrorIds.FeatureFlagUriInvalid, RollbackErrorKind.InvalidArgument,
                $"'{SecretRedactor.Redact(BaseUri.OriginalString)}' is not an http:// or https:// address. Pass -Uri with the flag service's (or endpoint's) URL.");
        }
    }

    protected Uri BaseUri { get; }

    /// <summary>Scheme, host, port and path only: the address names the target in the journal, signals and locks, so it never carries user info or a query.</summary>
    public override string Location => UrlCredentials.WithoutUserInfo(BaseUri).GetLeftPart(UriPartial.Path).TrimEnd('/');

    protected string RequireProject() => Request.DeploymentAs<FeatureFlagTarget>().Project ?? throw Missing("-Project with the project that holds the flag");

    protected string RequireEnvironment() => Request.DeploymentAs<FeatureFlagTarget>().Environment ?? throw Missing("-Environment with the environment to switch the flag in (e.g. production)");

    protected async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string relative, HttpContent? content, Func<HttpStatusCode, string, RollbackException?> notFound, CancellationToken cancellation)
    {
        // Relative to the service's own path (e.g. https://host/unleash/), never to Location, which names the project too.
        var (address, basic) = UrlCredentials.Split(BaseUri);
        var apiBase = new Uri(address.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/");
        using var message = new HttpRequestMessage(method, relative.Length == 0 ? address : new Uri(apiBase, relative.TrimStart('/'))) { Content = content };
        if (Request.DeploymentAs<FeatureFlagTarget>().ApiToken is { } token)
        {
            message.Headers.TryAddWithoutValidation("Authorization", AuthorizationValue(token));
        }
        else
        {
            message.Headers.Authorization = basic;
        }

        // Extra headers belong to the generic endpoint; Unleash and LaunchDarkly get exactly their documented requests.
        foreach (var (name, value) in this is HttpFlagProvider ? Request.DeploymentAs<FeatureFlagTarget>().Headers : new Dictionary<string, string>())
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        HttpResponseMessage response;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            response = await (Request.SkipCertificateCheck ? Unchecked : Checked).Value.SendAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellation.IsCancellationRequested))
        {
            throw new RollbackException(ErrorIds.FlagServiceUnreachable, RollbackErrorKind.ConnectionError,
                $"The flag service at {Location} could not be reached ({(e is TaskCanceledException ? "no answer within 30 s" : e.Message)}). Check -Uri and the network; nothing was changed.", e)
            { TargetName = Location };
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            var status = response.StatusCode;
            if (status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw new RollbackException(ErrorIds.FlagServiceUnauthorized, RollbackErrorKind.PermissionDenied,
                    $"The flag service at {Location} refused the request ({(int)status} {response.ReasonPhrase}). Pass -ApiToken with a token allowed to change flags; nothing was changed.")
                { TargetName = Location };
            }

            if (!response.IsSuccessStatusCode && notFound(status, body) is { } specific)
            {
                throw specific;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new RollbackException(ErrorIds.FlagServiceError, RollbackErrorKind.InvalidOperation,
                    $"The flag service at {Location} answered {(int)status} {response.ReasonPhrase}: {SecretRedactor.Redact(body.Length > 300 ? body[..300] : body)}")
                { TargetName = Location };
            }

            return (status, body);
        }
    }

    protected virtual string AuthorizationValue(string token) => token;

    private static HttpClient Create(bool skipCertificateCheck)
    {
        var handler = new SocketsHttpHandler();
        if (skipCertificateCheck)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        }

        return new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
    }
}

/// <summary>The spec's call: POST &lt;uri&gt; {"feature": "&lt;name&gt;", "enabled": false}; method, headers and body configurable.</summary>
internal sealed class HttpFlagProvider : ServiceFlagProvider
{
    public const string DefaultBody = "{\"feature\": \"{flag}\", \"enabled\": {enabled}}";

    public HttpFlagProvider(RollbackRequest request)
        : base(request)
    {
    }

    /// <summary>A generic endpoint cannot be asked the flag's state; the journal remembers what this module last set.</summary>
    public override Task<FlagReading> ReadAsync(CancellationToken cancellation) => Task.FromResult(new FlagReading(null, "(state not readable through a generic HTTP endpoint)", null));

    public override async Task WriteAsync(bool enabled, string? recordedDefinition, CancellationToken cancellation)
    {
        var body = (Request.DeploymentAs<FeatureFlagTarget>().BodyTemplate ?? DefaultBody).Replace("{flag}", JsonEncodedText.Encode(Flag).ToString(), StringComparison.Ordinal)
            .Replace("{enabled}", enabled ? "true" : "false", StringComparison.Ordinal);
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        await SendAsync(new HttpMethod(Request.DeploymentAs<FeatureFlagTarget>().HttpMethod), "", content, (status, _) => status == HttpStatusCode.NotFound
            ? new RollbackException(ErrorIds.FlagNotFound, RollbackErrorKind.ObjectNotFound, $"The flag endpoint {Location} answered 404 for flag '{Flag}'. Check -Uri and -Flag.") { TargetName = Flag }
            : null, cancellation).ConfigureAwait(false);
    }
}

/// <summary>Unleash's admin API: GET the feature's environment (or the whole feature), POST .../environments/{env}/off (or on).</summary>
internal sealed class UnleashFlagProvider : ServiceFlagProvider
{
    public UnleashFlagProvider(RollbackRequest request)
        : base(request)
    {
    }

    public override string Location => base.Location + $"#{RequireProject()}/{RequireEnvironment()}";

    /// <summary>The admin API path (after the project) that answers 404 exactly when the project does not exist.</summary>
    private const string ProjectProbeSuffix = "/overview";

    private string ServiceRoot => BaseUri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    public override async Task<FlagReading> ReadAsync(CancellationToken cancellation)
    {
        // The flag's one environment, which is what the switch changes: Unleash answers it in about half the time it
        // takes for the whole feature, and the read is on the way to the switch. Any 404 (no such flag, project or
        // environment, or a server without this endpoint) and any answer of another shape is read again through the
        // whole feature, whose answers tell those cases apart.
        try
        {
            var (_, body) = await SendAsync(HttpMethod.Get, $"{FeaturePath}/environments/{Escape(RequireEnvironment())}", null,
                (status, _) => status == HttpStatusCode.NotFound ? NotFound("") : null, cancellation).ConfigureAwait(false);
            if (EnvironmentState(body) is { } enabled)
            {
                return new FlagReading(enabled, body, null);
            }
        }
        catch (RollbackException e) when (e.ErrorId == ErrorIds.FlagNotFound)
        {
            // Any 404 here: which of flag, project or environment is missing is told by the whole feature's read below.
        }

        return await ReadFeatureAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>The environment's enabled state from its own endpoint's answer, or null when the answer is not that.</summary>
    private bool? EnvironmentState(string body)
    {
        try
        {
            return JsonNode.Parse(body) is JsonObject answer && (string?)answer["environment"] == RequireEnvironment() && answer["enabled"] is JsonValue value && value.TryGetValue(out bool enabled)
                ? enabled
                : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private async Task<FlagReading> ReadFeatureAsync(CancellationToken cancellation)
    {
        var (_, body) = await SendUnleashAsync(HttpMethod.Get, FeaturePath, cancellation).ConfigureAwait(false);
        var feature = JsonNode.Parse(body);
        var environment = (feature?["environments"] as JsonArray)?.FirstOrDefault(e => (string?)e?["name"] == RequireEnvironment());
        if (environment is null)
        {
            var known = (feature?["environments"] as JsonArray)?.Select(e => (string?)e?["name"]) ?? Enumerable.Empty<string?>();
            throw new RollbackException(ErrorIds.FlagEnvironmentNotFound, RollbackErrorKind.ObjectNotFound,
                $"Flag '{Flag}' has no environment '{RequireEnvironment()}' in project '{RequireProject()}'. Its environments: {string.Join(", ", known)}.")
            { TargetName = RequireEnvironment() };
        }

        return new FlagReading((bool?)environment["enabled"], environment.ToJsonString(), null);
    }

    private string FeaturePath => $"api/admin/projects/{Escape(RequireProject())}/features/{Escape(Flag)}";

    public override async Task WriteAsync(bool enabled, string? recordedDefinition, CancellationToken cancellation) =>
        await SendUnleashAsync(HttpMethod.Post, $"{FeaturePath}/environments/{Escape(RequireEnvironment())}/{(enabled ? "on" : "off")}", cancellation).ConfigureAwait(false);

    private async Task<(HttpStatusCode, string)> SendUnleashAsync(HttpMethod method, string path, CancellationToken cancellation)
    {
        using var content = method == HttpMethod.Post ? new StringContent("", Encoding.UTF8, "application/json") : null;
        try
        {
            return await SendAsync(method, path, content, (status, body) => status == HttpStatusCode.NotFound ? NotFound(body) : null, cancellation).ConfigureAwait(false);
        }
        catch (RollbackException e) when (e.ErrorId == ErrorIds.FlagNotFound)
        {
            // A 404 does not say whether the project or the flag is missing: ask about the project (its own 404 replaces this one).
            var project = RequireProject();
            await SendAsync(HttpMethod.Get, $"api/admin/projects/{Escape(project)}{ProjectProbeSuffix}", null, (status, _) => status == HttpStatusCode.NotFound
                ? new RollbackException(ErrorIds.FlagProjectNotFound, RollbackErrorKind.ObjectNotFound,
                    $"Unleash at {ServiceRoot} has no project '{project}'. Check -Project (the default project is 'default').") { TargetName = project }
                : null, cancellation).ConfigureAwait(false);
            throw;
        }
    }

    private RollbackException NotFound(string body) =>
        body.Contains("environment", StringComparison.OrdinalIgnoreCase) && body.Contains(RequireEnvironment(), StringComparison.Ordinal)
            ? new RollbackException(ErrorIds.FlagEnvironmentNotFound, RollbackErrorKind.ObjectNotFound,
                $"Unleash has no environment '{RequireEnvironment()}' for flag '{Flag}' in project '{RequireProject()}'. Check -Environment.") { TargetName = RequireEnvironment() }
            : new RollbackException(ErrorIds.FlagNotFound, RollbackErrorKind.ObjectNotFound,
                $"Unleash at {ServiceRoot} has no flag '{Flag}' in project '{RequireProject()}'. Check -Flag (the flag's name).") { TargetName = Flag };

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
}

/// <summary>LaunchDarkly's REST API v2: GET the flag for one environment, PATCH a semantic patch turnFlagOff/turnFlagOn.</summary>
internal sealed class LaunchDarklyFlagProvider : ServiceFlagProvider
{
    public const string SemanticPatchContentType = "application/json; domain-model=launchdarkly.semanticpatch";

    public LaunchDarklyFlagProvider(RollbackRequest request)
        : base(request, "https://app.launchdarkly.com")
    {
    }

    public override string Location => base.Location + $"#{RequireProject()}/{RequireEnvironment()}";

    public override async Task<FlagReading> ReadAsync(CancellationToken cancellation)
    {
        var (_, body) = await SendAsync(HttpMethod.Get, $"api/v2/flags/{Uri.EscapeDataString(RequireProject())}/{Uri.EscapeDataString(Flag)}?env={Uri.EscapeDataString(RequireEnvironment())}", null, NotFound, cancellation).ConfigureAwait(false);
        var environment = JsonNode.Parse(body)?["environments"]?[RequireEnvironment()]
            ?? throw new RollbackException(ErrorIds.FlagEnvironmentNotFound, RollbackErrorKind.ObjectNotFound,
                $"LaunchDarkly flag '{Flag}' has no environment '{RequireEnvironment()}' in project '{RequireProject()}'. Check -Environment (the environment key).") { TargetName = RequireEnvironment() };
        return new FlagReading((bool?)environment["on"], environment.ToJsonString(), null);
    }

    public override async Task WriteAsync(bool enabled, string? recordedDefinition, CancellationToken cancellation)
    {
        var patch = new JsonObject
        {
            ["environmentKey"] = RequireEnvironment(),
            ["instructions"] = new JsonArray(new JsonObject { ["kind"] = enabled ? "turnFlagOn" : "turnFlagOff" }),
            ["comment"] = "DeploymentRollback: " + (enabled ? "restored" : "kill switch after a failed deployment"),
        };
        using var content = new StringContent(patch.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(SemanticPatchContentType);
        await SendAsync(HttpMethod.Patch, $"api/v2/flags/{Uri.EscapeDataString(RequireProject())}/{Uri.EscapeDataString(Flag)}", content, NotFound, cancellation).ConfigureAwait(false);
    }

    private RollbackException? NotFound(HttpStatusCode status, string body) => status == HttpStatusCode.NotFound
        ? new RollbackException(ErrorIds.FlagNotFound, RollbackErrorKind.ObjectNotFound,
            $"LaunchDarkly has no flag '{Flag}' in project '{RequireProject()}' ({SecretRedactor.Redact(body.Length > 200 ? body[..200] : body)}). Check -Flag and -Project (keys, not names).") { TargetName = Flag }
        : null;
}
