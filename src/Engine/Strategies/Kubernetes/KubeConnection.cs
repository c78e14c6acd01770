using System.Net;
using System.Net.Sockets;
using k8s;
using k8s.Autorest;
using k8s.Exceptions;
using Polly;
using Polly.Retry;

namespace DeploymentRollback.Engine.Kubernetes;

/// <summary>
/// A client for one cluster context: kubeconfig (explicit, KUBECONFIG, ~/.kube/config) or the in-cluster service
/// account, the context's namespace, and 5xx/timeout retries with backoff on every request.
/// </summary>
internal sealed class KubeConnection : IDisposable
{
    private readonly bool ownsClient;

    private KubeConnection(k8s.Kubernetes client, string contextName, string @namespace, string server, bool ownsClient)
    {
        this.ownsClient = ownsClient;
        Client = client;
        ContextName = contextName;
        Namespace = @namespace;
        Server = Uri.TryCreate(server, UriKind.Absolute, out var address) ? UrlCredentials.Describe(address) : SecretRedactor.Redact(server);
    }

    public k8s.Kubernetes Client { get; }
    public string ContextName { get; }
    public string Namespace { get; }
    /// <summary>The API server's address as it may be shown: a user:password@ in the kubeconfig's server is masked.</summary>
    public string Server { get; }

    /// <summary>Reads the configuration without contacting the server: every kubeconfig problem is reported before anything else.</summary>
    public static KubernetesClientConfiguration LoadConfiguration(RollbackRequest request, out string contextName)
    {
        var paths = request.DeploymentAs<KubernetesTarget>().KubeConfig is { } given ? new[] { given } : DefaultKubeConfigPaths();
        if (paths.Length == 0)
        {
            if (KubernetesClientConfiguration.IsInCluster())
            {
                contextName = "in-cluster";
                return KubernetesClientConfiguration.InClusterConfig();
            }

            throw new RollbackException(ErrorIds.KubeConfigInvalid, RollbackErrorKind.ObjectNotFound,
                "No kubeconfig was found (-KubeConfig, $env:KUBECONFIG or ~/.kube/config) and this is not a pod with a service account. Pass -KubeConfig with the cluster's kubeconfig file.");
        }

        var path = string.Join(System.IO.Path.PathSeparator, paths);
        if (paths.FirstOrDefault(p => !File.Exists(p)) is { } missing)
        {
            throw new RollbackException(ErrorIds.KubeConfigInvalid, RollbackErrorKind.ObjectNotFound,
                $"The kubeconfig '{missing}' does not exist. Pass -KubeConfig with an existing file (see 'kubectl config view').") { TargetName = missing };
        }

        k8s.KubeConfigModels.K8SConfiguration file;
        try
        {
            file = Merge(paths.Select(p => KubernetesClientConfiguration.LoadKubeConfig(p)).ToList());
        }
        catch (Exception e) when (e is KubeConfigException or IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException)
        {
            throw new RollbackException(ErrorIds.KubeConfigInvalid, RollbackErrorKind.InvalidArgument,
                $"The kubeconfig '{path}' cannot be read: {e.Message} Check it with 'kubectl config view --kubeconfig {path}'.", e) { TargetName = path };
        }

        var contexts = file.Contexts?.Select(c => c.Name).ToList() ?? new List<string>();
        contextName = request.DeploymentAs<KubernetesTarget>().Context ?? file.CurrentContext ?? "";
        if (!contexts.Contains(contextName, StringComparer.Ordinal))
        {
            throw new RollbackException(ErrorIds.KubernetesContextNotFound, RollbackErrorKind.ObjectNotFound,
                (string.IsNullOrEmpty(contextName) ? $"The kubeconfig '{path}' names no current context." : $"The context '{contextName}' is not in the kubeconfig '{path}'.")
                + $" Known contexts: {(contexts.Count == 0 ? "none" : string.Join(", ", contexts))}. Pass -Context with one of them.") { TargetName = contextName };
        }

        try
        {
            return KubernetesClientConfiguration.BuildConfigFromConfigObject(file, contextName);
        }
        catch (Exception e) when (e is KubeConfigException or IOException or FormatException)
        {
            throw new RollbackException(ErrorIds.KubeConfigInvalid, RollbackErrorKind.InvalidArgument,
                $"The context '{contextName}' in '{path}' cannot be used: {e.Message}", e) { TargetName = path };
        }
    }

    /// <summary>
    /// A connection for a configuration already read (the kubeconfig is parsed once per rollback, or once per selection):
    /// over the given client, which its owner disposes, else over a client of its own.
    /// </summary>
    public static KubeConnection Open(KubernetesClientConfiguration configuration, string contextName, string? requestedNamespace, k8s.Kubernetes? sharedClient = null)
    {
        var @namespace = requestedNamespace ?? configuration.Namespace ?? "default";
        return new KubeConnection(sharedClient ?? NewClient(configuration), contextName, @namespace, configuration.Host, ownsClient: sharedClient is null);
    }

    /// <summary>A client with the retries below; thread-safe, so the runs of a selection can share one.</summary>
    public static k8s.Kubernetes NewClient(KubernetesClientConfiguration configuration) => new(configuration, new RetryHandler());

    public void Dispose()
    {
        if (ownsClient)
        {
            Client.Dispose();
        }
    }

    /// <summary>
    /// Turns client errors into errors an admin can act on; 404 and 409 are handled by the callers that expect them. The
    /// client's exception is never kept as the inner exception: it holds the request, whose headers carry the kubeconfig's
    /// credential and whose body a pod template (see <see cref="WithoutRequest"/>).
    /// </summary>
    public RollbackException Explain(Exception error, string what)
    {
        return error switch
        {
            RollbackException known => known,
            HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden } e => new RollbackException(ErrorIds.KubernetesForbidden, RollbackErrorKind.PermissionDenied,
                $"The cluster refused to let context '{ContextName}' {what} (403 Forbidden: {StatusMessage(e)}). Ask for the RBAC rights (get/list/watch/patch on the workload and its ReplicaSets or ControllerRevisions) or use another -Context.", WithoutRequest(e)),
            HttpOperationException { Response.StatusCode: HttpStatusCode.Unauthorized } e => new RollbackException(ErrorIds.KubernetesUnauthorized, RollbackErrorKind.PermissionDenied,
                $"The cluster at {Server} did not accept the credentials of context '{ContextName}' (401). Refresh them (e.g. log in again) and retry.", WithoutRequest(e)),
            HttpOperationException e => new RollbackException(ErrorIds.KubernetesApiError, RollbackErrorKind.InvalidOperation,
                $"The Kubernetes API answered {(int)e.Response.StatusCode} while trying to {what}: {StatusMessage(e)}", WithoutRequest(e)),
            HttpRequestException or SocketException or TaskCanceledException { InnerException: TimeoutException } => new RollbackException(ErrorIds.KubernetesUnreachable, RollbackErrorKind.ConnectionError,
                $"The Kubernetes API server at {Server} (context '{ContextName}') cannot be reached: {SecretRedactor.Redact(error.Message)} Check the network and the kubeconfig's server address.", error),
            _ => new RollbackException(ErrorIds.KubernetesApiError, RollbackErrorKind.InvalidOperation, $"Could not {what}: {SecretRedactor.Redact(error.Message)}", WithoutRequest(error)),
        };
    }

    /// <summary>
    /// What may be kept of a client error as an inner exception: the answer's status and message, not the request (its
    /// Authorization header and body would reach anything that serialises the error record: $Error | ConvertTo-Json).
    /// </summary>
    public static Exception? WithoutRequest(Exception error) => error switch
    {
        HttpOperationException e => new HttpRequestException($"{(int)e.Response.StatusCode} {e.Response.ReasonPhrase}: {SecretRedactor.Redact(StatusMessage(e))}", null, e.Response.StatusCode),
        _ when error.InnerException is HttpOperationException => null,
        _ => error,
    };

    public static bool IsStatus(Exception error, HttpStatusCode code) => error is HttpOperationException e && e.Response.StatusCode == code;

    private static string StatusMessage(HttpOperationException e)
    {
        try
        {
            var status = KubernetesJson.Deserialize<k8s.Models.V1Status>(e.Response.Content);
            return status?.Message ?? e.Response.ReasonPhrase ?? e.Message;
        }
        catch (Exception)
        {
            return e.Response.ReasonPhrase ?? e.Message;
        }
    }

    /// <summary>
    /// A KUBECONFIG list merged as kubectl merges it: the first file to name a context, cluster or user (or the current
    /// context) wins. By hand because the client library keeps its own merge internal.
    /// </summary>
    private static k8s.KubeConfigModels.K8SConfiguration Merge(IReadOnlyList<k8s.KubeConfigModels.K8SConfiguration> files)
    {
        var merged = files[0];
        foreach (var next in files.Skip(1))
        {
            merged.CurrentContext = string.IsNullOrEmpty(merged.CurrentContext) ? next.CurrentContext : merged.CurrentContext;
            merged.Contexts = FirstByName(merged.Contexts, next.Contexts, c => c.Name);
            merged.Clusters = FirstByName(merged.Clusters, next.Clusters, c => c.Name);
            merged.Users = FirstByName(merged.Users, next.Users, u => u.Name);
        }

        return merged;
    }

    private static List<T> FirstByName<T>(IEnumerable<T>? first, IEnumerable<T>? then, Func<T, string> name)
    {
        var list = (first ?? Enumerable.Empty<T>()).ToList();
        var known = list.Select(name).ToHashSet(StringComparer.Ordinal);
        list.AddRange((then ?? Enumerable.Empty<T>()).Where(item => known.Add(name(item))));
        return list;
    }

    /// <summary>The existing files of a KUBECONFIG list (kubectl skips missing ones), else ~/.kube/config if it exists.</summary>
    private static string[] DefaultKubeConfigPaths()
    {
        if (System.Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } variable)
        {
            return variable.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Where(File.Exists).ToArray();
        }

        var home = System.IO.Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".kube", "config");
        return File.Exists(home) ? new[] { home } : Array.Empty<string>();
    }

    /// <summary>Retries 5xx answers, 429 and connection failures with exponential backoff; watches are retried by their reader.</summary>
    private sealed class RetryHandler : DelegatingHandler
    {
        private static readonly ResiliencePipeline<HttpResponseMessage> Pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 4,
                Delay = TimeSpan.FromMilliseconds(200),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .HandleResult(r => (int)r.StatusCode >= 500 || r.StatusCode == HttpStatusCode.TooManyRequests),
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .Build();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // A request body can be read only once; buffer it so a retry can send it again.
            if (request.Content is not null)
            {
                await request.Content.LoadIntoBufferAsync().ConfigureAwait(false);
            }

            return await Pipeline.ExecuteAsync(async token => await base.SendAsync(request, token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
    }
}
