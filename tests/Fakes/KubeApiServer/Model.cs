using System.Collections.Concurrent;
using System.Text.Json.Serialization;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>How the fake kubelet runs a container image.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ImageBehaviour>))]
public enum ImageBehaviour
{
    /// <summary>Starts, runs, and passes its readiness probe after the readiness delay.</summary>
    Ready,

    /// <summary>Exits with code 1 on every start: CrashLoopBackOff, restartCount climbing.</summary>
    CrashLoop,

    /// <summary>Cannot be pulled: ErrImagePull, then ImagePullBackOff.</summary>
    ImagePullError,

    /// <summary>Runs, but its readiness probe keeps failing.</summary>
    NeverReady,
}

/// <summary>Settings of one fake server.</summary>
public sealed class FakeKubeOptions
{
    /// <summary>Address to listen on (loopback by default).</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>
    /// Bearer token with full access; null (the default) turns authentication off.
    /// kubectl (client-go) sends credentials only over TLS: set Tls as well when kubectl must authenticate.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>Bearer token allowed to read only (writes get 403 Forbidden); used only when Token is set.</summary>
    public string? ReadOnlyToken { get; set; } = "fake-readonly-token";

    /// <summary>Serve HTTPS with a self-signed certificate (its PEM goes into the kubeconfig as certificate-authority-data).</summary>
    public bool Tls { get; set; }

    /// <summary>Time from a pod's creation to Running and Ready (for images that become ready).</summary>
    public TimeSpan ReadyDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Time between two crashes of a crash-looping container.</summary>
    public TimeSpan CrashLoopInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Time a deleted pod stays Terminating before it is gone.</summary>
    public TimeSpan TerminationDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the controllers run when nothing wakes them.</summary>
    public TimeSpan ControllerInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often watches that allow bookmarks get one.</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Names of the fake nodes (DaemonSets run one pod on each).</summary>
    public IList<string> Nodes { get; set; } = new List<string> { "fake-node-1" };

    /// <summary>Reported by /version.</summary>
    public string GitVersion { get; set; } = "v1.32.4";
}

/// <summary>One API request as the server saw it (admin requests under /fake/ are not recorded).</summary>
public sealed class RecordedRequest
{
    public DateTimeOffset At { get; init; }
    public string Method { get; init; } = "";
    public string Path { get; init; } = "";

    /// <summary>The raw query string, without the leading '?'.</summary>
    public string Query { get; init; } = "";

    /// <summary>get, list, watch, create, update, patch, delete, deletecollection; null for discovery and other non-resource paths.</summary>
    public string? Verb { get; init; }

    /// <summary>Plural resource name (deployments), null for non-resource paths.</summary>
    public string? Resource { get; init; }

    public string? Subresource { get; init; }
    public string? Namespace { get; init; }
    public string? Name { get; init; }
    public string? ContentType { get; init; }

    /// <summary>For PATCH: the patch content type (application/strategic-merge-patch+json, ...).</summary>
    public string? PatchType { get; init; }

    public string? Body { get; set; }
    public string? UserAgent { get; init; }
    public string? User { get; set; }
    public int StatusCode { get; set; }

    public string QueryValue(string name)
    {
        foreach (var pair in Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(at < 0 ? pair : pair[..at]);
            if (key == name)
            {
                return at < 0 ? "" : Uri.UnescapeDataString(pair[(at + 1)..].Replace('+', ' '));
            }
        }

        return "";
    }

    public override string ToString() => $"{Method} {Path}{(Query.Length > 0 ? "?" + Query : "")} -> {StatusCode}";
}

/// <summary>A fault to inject into matching API requests. All set conditions must match.</summary>
public sealed class FaultRule
{
    /// <summary>HTTP method to match (GET, PATCH, ...); null matches any.</summary>
    public string? Method { get; set; }

    /// <summary>Substring of the request path to match; null matches any.</summary>
    public string? PathContains { get; set; }

    /// <summary>API verb to match (get, list, watch, create, update, patch, delete); null matches any.</summary>
    public string? Verb { get; set; }

    /// <summary>Plural resource to match; null matches any.</summary>
    public string? Resource { get; set; }

    /// <summary>Status code to answer with (500, 503, 409, 429...); 0 lets the request through (latency or watch drop only).</summary>
    public int StatusCode { get; set; }

    /// <summary>Status reason; derived from the code when null (409 gives Conflict with the real message).</summary>
    public string? Reason { get; set; }

    public string? Message { get; set; }

    /// <summary>How many matching requests the rule affects; null: all of them.</summary>
    public int? Times { get; set; }

    /// <summary>Delay before the request is handled.</summary>
    [JsonIgnore]
    public TimeSpan Latency { get; set; }

    /// <summary>Latency in milliseconds (the admin endpoint's form).</summary>
    public int LatencyMs
    {
        get => (int)Latency.TotalMilliseconds;
        set => Latency = TimeSpan.FromMilliseconds(value);
    }

    /// <summary>For watches: close the stream after this many events.</summary>
    public int? DropWatchAfterEvents { get; set; }

    /// <summary>How many requests the rule has affected.</summary>
    public int Hits { get; set; }

    internal bool Matches(string method, string path, string? verb, string? resource) =>
        (Method is null || string.Equals(Method, method, StringComparison.OrdinalIgnoreCase))
        && (PathContains is null || path.Contains(PathContains, StringComparison.Ordinal))
        && (Verb is null || string.Equals(Verb, verb, StringComparison.OrdinalIgnoreCase))
        && (Resource is null || string.Equals(Resource, resource, StringComparison.OrdinalIgnoreCase));
}

/// <summary>What the matching fault rules do to one request.</summary>
public sealed record FaultEffect(TimeSpan Latency, FaultRule? Failure, int? DropWatchAfterEvents);

/// <summary>The fault rules of a server; safe to change while it serves.</summary>
public sealed class FaultInjector
{
    private readonly List<FaultRule> rules = new();

    public void Add(FaultRule rule)
    {
        lock (rules)
        {
            rules.Add(rule);
        }
    }

    public bool Remove(FaultRule rule)
    {
        lock (rules)
        {
            return rules.Remove(rule);
        }
    }

    public void Clear()
    {
        lock (rules)
        {
            rules.Clear();
        }
    }

    public IReadOnlyList<FaultRule> Rules
    {
        get
        {
            lock (rules)
            {
                return rules.ToList();
            }
        }
    }

    internal FaultEffect Match(string method, string path, string? verb, string? resource)
    {
        var latency = TimeSpan.Zero;
        FaultRule? failure = null;
        int? drop = null;
        lock (rules)
        {
            foreach (var rule in rules.ToList())
            {
                if (!rule.Matches(method, path, verb, resource))
                {
                    continue;
                }

                if (rule.StatusCode > 0 && failure is not null)
                {
                    continue;
                }

                rule.Hits++;
                latency += rule.Latency;
                if (rule.StatusCode > 0)
                {
                    failure = rule;
                }

                if (rule.DropWatchAfterEvents is { } n && verb == "watch")
                {
                    drop = drop is null ? n : Math.Min(drop.Value, n);
                }

                if (rule.Times is { } times && rule.Hits >= times)
                {
                    rules.Remove(rule);
                }
            }
        }

        return new FaultEffect(latency, failure, drop);
    }
}

/// <summary>Image behaviours: set per image, else chosen by the tag (crash, badpull/nopull, unready).</summary>
public sealed class ImageCatalog
{
    private readonly ConcurrentDictionary<string, ImageBehaviour> behaviours = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TimeSpan> delays = new(StringComparer.Ordinal);

    public ImageBehaviour this[string image]
    {
        get => Resolve(image);
        set => behaviours[image] = value;
    }

    /// <summary>A readiness delay for one image instead of FakeKubeOptions.ReadyDelay.</summary>
    public void SetReadyDelay(string image, TimeSpan delay) => delays[image] = delay;

    public TimeSpan? ReadyDelayFor(string image) => delays.TryGetValue(image, out var d) ? d : null;

    public void Clear()
    {
        behaviours.Clear();
        delays.Clear();
    }

    public ImageBehaviour Resolve(string image)
    {
        if (behaviours.TryGetValue(image, out var set))
        {
            return set;
        }

        var tag = Tag(image).ToLowerInvariant();
        if (tag.Contains("crash", StringComparison.Ordinal))
        {
            return ImageBehaviour.CrashLoop;
        }

        if (tag.Contains("badpull", StringComparison.Ordinal) || tag.Contains("nopull", StringComparison.Ordinal))
        {
            return ImageBehaviour.ImagePullError;
        }

        if (tag.Contains("unready", StringComparison.Ordinal))
        {
            return ImageBehaviour.NeverReady;
        }

        return ImageBehaviour.Ready;
    }

    private static string Tag(string image)
    {
        var nameAndTag = image[(image.LastIndexOf('/') + 1)..];
        var at = nameAndTag.IndexOf('@');
        if (at >= 0)
        {
            nameAndTag = nameAndTag[..at];
        }

        var colon = nameAndTag.LastIndexOf(':');
        return colon < 0 ? "" : nameAndTag[(colon + 1)..];
    }
}
