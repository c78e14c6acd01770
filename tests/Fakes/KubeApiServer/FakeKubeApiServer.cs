using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>A context for WriteKubeconfig beyond the first one.</summary>
public sealed record KubeconfigContext(string Name, string Namespace = "default", bool ReadOnly = false);

/// <summary>
/// A fake Kubernetes API server on loopback: the API over HTTP (kubectl and client libraries talk to it),
/// with deployment, replicaset, statefulset and daemonset controllers and a simulated kubelet running in the background.
/// </summary>
public sealed class FakeKubeApiServer : IAsyncDisposable
{
    private readonly List<RecordedRequest> requests = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly SemaphoreSlim wake = new(0, 1);
    private WebApplication? app;
    private Task? controllerLoop;
    private ApiHandler? handler;

    private FakeKubeApiServer(FakeKubeOptions options)
    {
        Options = options;
        Store = new ObjectStore();
        Events = new EventRecorder(Store);
        Kubelet = new Kubelet(Store, Events, options, Images);
        Controllers = new Controllers(Store, Events, Kubelet, options);
        Store.Changed += Kick;
    }

    public FakeKubeOptions Options { get; }

    /// <summary>The objects. Writes through it are seen by watches and controllers like API writes (no auth, faults or recording).</summary>
    public ObjectStore Store { get; }

    public FaultInjector Faults { get; } = new();

    /// <summary>Image behaviours (exact image, else the tag conventions crash / badpull / nopull / unready).</summary>
    public ImageCatalog Images { get; } = new();

    public EventRecorder Events { get; }

    public Kubelet Kubelet { get; }

    public Controllers Controllers { get; }

    /// <summary>http://127.0.0.1:port/</summary>
    public Uri BaseUri { get; private set; } = new("http://127.0.0.1/");

    /// <summary>http://127.0.0.1:port (no trailing slash), as a kubeconfig's server.</summary>
    public string Url => BaseUri.GetLeftPart(UriPartial.Authority);

    public int Port => BaseUri.Port;

    internal CancellationToken Stopping => stopping.Token;

    /// <summary>The API requests seen so far (not the /fake/ admin ones), oldest first.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (requests)
            {
                return requests.ToList();
            }
        }
    }

    public void ClearRequests()
    {
        lock (requests)
        {
            requests.Clear();
        }
    }

    internal void Record(RecordedRequest request)
    {
        lock (requests)
        {
            requests.Add(request);
            if (requests.Count > 100_000)
            {
                requests.RemoveRange(0, 10_000);
            }
        }
    }

    public static async Task<FakeKubeApiServer> StartAsync(FakeKubeOptions? options = null, CancellationToken cancellation = default)
    {
        var server = new FakeKubeApiServer(options ?? new FakeKubeOptions());
        await server.StartCoreAsync(cancellation);
        return server;
    }

    private async Task StartCoreAsync(CancellationToken cancellation)
    {
        SeedCluster();
        handler = new ApiHandler(this);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(FakeKubeApiServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Parse(Options.Host), Options.Port, listen =>
            {
                if (Options.Tls)
                {
                    listen.UseHttps(CreateCertificate());
                }
            });
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.MaxRequestBodySize = 16 * 1024 * 1024;
        });
        app = builder.Build();
        app.Run(ctx => handler.HandleAsync(ctx));
        await app.StartAsync(cancellation);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        BaseUri = new Uri($"{(Options.Tls ? "https" : "http")}://{Options.Host}:{port}/");
        controllerLoop = Task.Run(ControllerLoopAsync);
    }

    /// <summary>With Tls: the server's self-signed certificate (PEM), which is its own CA.</summary>
    public string? CertificatePem { get; private set; }

    private X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=fake-kube-apiserver", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName("kubernetes.default.svc");
        names.AddIpAddress(IPAddress.Loopback);
        if (IPAddress.TryParse(Options.Host, out var host) && !host.Equals(IPAddress.Loopback) && !host.Equals(IPAddress.Any))
        {
            names.AddIpAddress(host);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        CertificatePem = certificate.ExportCertificatePem();
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    private void SeedCluster()
    {
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
        {
            CreateInternal(Catalog.Namespaces, new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } });
        }

        foreach (var node in Options.Nodes)
        {
            CreateInternal(Catalog.Nodes, new JsonObject
            {
                ["metadata"] = new JsonObject
                {
                    ["name"] = node,
                    ["labels"] = new JsonObject
                    {
                        ["kubernetes.io/hostname"] = node,
                        ["kubernetes.io/os"] = "linux",
                        ["kubernetes.io/arch"] = "amd64",
                    },
                },
                ["spec"] = new JsonObject(),
                ["status"] = new JsonObject
                {
                    ["conditions"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "Ready",
                        ["status"] = "True",
                        ["reason"] = "KubeletReady",
                        ["message"] = "kubelet is posting ready status",
                    }),
                    ["nodeInfo"] = new JsonObject { ["kubeletVersion"] = Options.GitVersion, ["operatingSystem"] = "linux", ["architecture"] = "amd64" },
                },
            });
        }

        CreateInternal(Catalog.ServiceAccounts, new JsonObject { ["metadata"] = new JsonObject { ["name"] = "default", ["namespace"] = "default" } });
    }

    private void CreateInternal(ResourceType type, JsonObject obj)
    {
        obj["kind"] = type.Kind;
        obj["apiVersion"] = type.ApiVersion;
        var status = obj["status"]?.DeepClone();
        Defaults.PrepareForCreate(type, obj);
        if (status is not null)
        {
            obj["status"] = status;
        }

        Defaults.Apply(type, obj);
        Store.Create(type, obj);
    }

    /// <summary>Wakes the controllers now (they also run every ControllerInterval).</summary>
    public void Kick()
    {
        try
        {
            if (wake.CurrentCount == 0)
            {
                wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task ControllerLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                Controllers.RunOnce();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Console.Error.WriteLine("fake kube controllers: " + e);
            }

            try
            {
                await wake.WaitAsync(Options.ControllerInterval, stopping.Token);
                // Let a burst of writes settle into one pass.
                await Task.Delay(5, stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    // ---------------- seeding and inspection ----------------

    public static ResourceType Resource(string resource) =>
        Catalog.All.FirstOrDefault(t => t.Plural == resource || t.Singular == resource || t.ShortNames.Contains(resource) || string.Equals(t.Kind, resource, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown resource {resource}", nameof(resource));

    /// <summary>Creates the object (defaulted and validated as a POST would be), or replaces its spec/metadata if it exists. Returns the stored object.</summary>
    public JsonObject Apply(JsonObject obj)
    {
        var type = Catalog.ForKind(obj.Str("apiVersion") ?? "", obj.Str("kind") ?? "")
            ?? throw new ArgumentException($"unsupported apiVersion/kind {obj.Str("apiVersion")}/{obj.Str("kind")}", nameof(obj));
        var ns = type.Namespaced ? obj.Namespace() ?? "default" : null;
        var existing = obj.Name().Length > 0 ? Store.Get(type, ns, obj.Name()) : null;
        if (existing is null)
        {
            return handler!.Create(type, ns, obj.Clone(), dryRun: false);
        }

        var copy = obj.Clone();
        copy.Meta()["resourceVersion"] = existing.Str("metadata", "resourceVersion");
        return handler!.Save(type, existing, copy, WriteMode.Main, null, dryRun: false);
    }

    /// <summary>Apply for a JSON text.</summary>
    public JsonObject Apply(string json) => Apply(Json.Parse(json));

    public JsonObject? Get(string resource, string name, string? @namespace = "default") =>
        Store.Get(Resource(resource), @namespace, name);

    public IReadOnlyList<JsonObject> List(string resource, string? @namespace = "default", string? labelSelector = null)
    {
        var selector = LabelSelector.Parse(labelSelector);
        return Store.List(Resource(resource), @namespace).Items.Where(selector.Matches).ToList();
    }

    /// <summary>Deletes as a DELETE request would (pods go Terminating first; owned objects are garbage-collected).</summary>
    public bool Delete(string resource, string name, string? @namespace = "default") =>
        handler!.Delete(Resource(resource), @namespace, name, new JsonObject(), null, dryRun: false) is not null;

    /// <summary>Waits until the object exists and the condition holds; returns it.</summary>
    public async Task<JsonObject> WaitForAsync(string resource, string name, Func<JsonObject, bool> condition, TimeSpan? timeout = null, string? @namespace = "default")
    {
        var deadline = DateTimeOffset.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        JsonObject? last = null;
        while (DateTimeOffset.UtcNow < deadline)
        {
            last = Get(resource, name, @namespace);
            if (last is not null && condition(last))
            {
                return last;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"{resource}/{name} did not reach the condition; last seen: {(last is null ? "<none>" : Json.Compact(last["status"]))}");
    }

    /// <summary>Waits until a Deployment has rolled out (what kubectl rollout status calls success); returns it.</summary>
    public Task<JsonObject> WaitForRolloutAsync(string deployment, TimeSpan? timeout = null, string? @namespace = "default") =>
        WaitForAsync("deployments", deployment, IsRolledOut, timeout, @namespace);

    /// <summary>kubectl's DeploymentStatusViewer success test.</summary>
    public static bool IsRolledOut(JsonObject d)
    {
        var replicas = d.Long("spec", "replicas") ?? 1;
        long S(string f) => d.Long("status", f) ?? 0;
        return (d.Long("metadata", "generation") ?? 0) <= S("observedGeneration")
            && S("updatedReplicas") >= replicas
            && S("replicas") <= S("updatedReplicas")
            && S("availableReplicas") >= S("updatedReplicas");
    }

    /// <summary>True when the Deployment's Progressing condition says ProgressDeadlineExceeded.</summary>
    public static bool HasTimedOut(JsonObject d) =>
        (Json.Walk(d, "status", "conditions") as JsonArray ?? new JsonArray()).OfType<JsonObject>()
            .Any(c => c.Str("type") == "Progressing" && c.Str("reason") == "ProgressDeadlineExceeded");

    // ---------------- kubeconfig ----------------

    /// <summary>Writes a kubeconfig (cluster "fake", users with the bearer tokens) whose current context is contextName. Returns the path.</summary>
    public string WriteKubeconfig(string path, string @namespace = "default", string contextName = "fake", bool readOnly = false, IEnumerable<KubeconfigContext>? additionalContexts = null)
    {
        var contexts = new List<KubeconfigContext> { new(contextName, @namespace, readOnly) };
        contexts.AddRange(additionalContexts ?? []);
        var text = new StringBuilder();
        text.Append("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ").Append(Url).Append('\n');
        if (CertificatePem is not null)
        {
            text.Append("    certificate-authority-data: ").Append(Convert.ToBase64String(Encoding.ASCII.GetBytes(CertificatePem))).Append('\n');
        }

        text.Append("contexts:\n");
        foreach (var c in contexts)
        {
            text.Append("- name: ").Append(Quote(c.Name)).Append("\n  context:\n    cluster: fake\n    user: ")
                .Append(c.ReadOnly ? "fake-readonly" : "fake-admin").Append("\n    namespace: ").Append(Quote(c.Namespace)).Append('\n');
        }

        text.Append("current-context: ").Append(Quote(contextName)).Append('\n');
        text.Append("users:\n- name: fake-admin\n  user:\n    token: ").Append(Quote(Options.Token ?? "fake-admin-token")).Append('\n');
        text.Append("- name: fake-readonly\n  user:\n    token: ").Append(Quote(Options.ReadOnlyToken ?? "fake-readonly-token")).Append('\n');
        text.Append("preferences: {}\n");
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(path, text.ToString());
        return path;
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    public async ValueTask DisposeAsync()
    {
        if (stopping.IsCancellationRequested)
        {
            return;
        }

        stopping.Cancel();
        if (app is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await app.StopAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await app.DisposeAsync();
        }

        if (controllerLoop is not null)
        {
            try
            {
                await controllerLoop;
            }
            catch (OperationCanceledException)
            {
            }
        }

        Store.Changed -= Kick;
    }
}
