using System.Diagnostics;
using System.Text.Json.Nodes;
using DeploymentRollback.Engine;
using DeploymentRollback.Fakes.Kube;
using k8s;
using k8s.Models;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Kubernetes;

/// <summary>A fake cluster (the one KubectlFidelityTests prove with kubectl), a client and a state root, and helpers to deploy.</summary>
public sealed class KubeFixture : IAsyncDisposable
{
    private readonly FakeCluster cluster;

    private KubeFixture(FakeCluster cluster)
    {
        this.cluster = cluster;
        Client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(KubeConfig));
    }

    public FakeKubeApiServer Server => cluster.Server;
    public string KubeConfig => cluster.KubeconfigPath;
    public k8s.Kubernetes Client { get; }
    public string StatePath => Temp.Combine("state");
    public TempDirectory Temp => cluster.Temp;

    public static async Task<KubeFixture> StartAsync(Action<FakeKubeOptions>? configure = null) => new(await FakeCluster.StartAsync(configure));

    public StateRoot State() => StateRoot.Open(StatePath);

    public EngineContext Context(IRollbackObserver? observer = null) => new(State(), observer ?? new RecordingObserver(), CancellationToken.None);

    public RollbackRequest Request(string name, string? target = null, string kind = "Deployment", string? @namespace = null) => new()
    {
        Deployment = new KubernetesTarget { Name = name, Kind = kind, KubeConfig = KubeConfig, Namespace = @namespace, Timeout = TimeSpan.FromSeconds(20) },
        Target = target,
    };

    /// <summary>Creates a Deployment running image, then moves it through the further images, waiting for each rollout to settle.</summary>
    public async Task DeployAsync(string name, string image, IDictionary<string, string>? labels = null, Action<V1PodSpec>? customise = null, int progressDeadlineSeconds = 3, Action<V1DeploymentSpec>? customiseDeployment = null)
    {
        labels ??= new Dictionary<string, string>();
        labels["app"] = name;
        var spec = new V1PodSpec { Containers = new List<V1Container> { new() { Name = "app", Image = image, Env = new List<V1EnvVar> { new() { Name = "MODE", Value = "normal" } } } } };
        customise?.Invoke(spec);
        var deployment = new V1Deployment
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string>(labels) },
            Spec = new V1DeploymentSpec
            {
                Replicas = 2,
                ProgressDeadlineSeconds = progressDeadlineSeconds,
                Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = name } },
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string>(labels) }, Spec = spec },
            },
        };
        customiseDeployment?.Invoke(deployment.Spec);
        await Client.AppsV1.CreateNamespacedDeploymentAsync(deployment, "default");
        await SettleAsync(name, image);
    }

    /// <summary>kubectl set image: the container's image changes and the controller rolls it out (or fails to).</summary>
    public async Task SetImageAsync(string name, string image, string kind = "Deployment")
    {
        var patch = new V1Patch($"{{\"spec\":{{\"template\":{{\"spec\":{{\"containers\":[{{\"name\":\"app\",\"image\":\"{image}\"}}]}}}}}}}}", V1Patch.PatchType.StrategicMergePatch);
        _ = kind switch
        {
            "StatefulSet" => (object)await Client.AppsV1.PatchNamespacedStatefulSetAsync(patch, name, "default"),
            "DaemonSet" => await Client.AppsV1.PatchNamespacedDaemonSetAsync(patch, name, "default"),
            _ => await Client.AppsV1.PatchNamespacedDeploymentAsync(patch, name, "default"),
        };
        await SettleAsync(name, image, kind);
    }

    /// <summary>Waits until the rollout of image is complete, or (for a failing image) has visibly failed.</summary>
    public async Task SettleAsync(string name, string image, string kind = "Deployment")
    {
        var failing = image.Contains("crash") || image.Contains("badpull") || image.Contains("unready");
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (kind == "Deployment")
            {
                var d = await Client.AppsV1.ReadNamespacedDeploymentAsync(name, "default");
                var progressing = d.Status?.Conditions?.FirstOrDefault(c => c.Type == "Progressing");
                // The controller must have seen this template first: a deadline from the previous rollout does not count.
                if (d.Status?.ObservedGeneration >= d.Metadata.Generation && (failing ? progressing?.Reason == "ProgressDeadlineExceeded"
                    : d.Status?.UpdatedReplicas == d.Spec.Replicas && d.Status?.AvailableReplicas == d.Spec.Replicas && d.Status?.Replicas == d.Spec.Replicas))
                {
                    return;
                }
            }
            else
            {
                var pods = await Client.CoreV1.ListNamespacedPodAsync("default", labelSelector: $"app={name}");
                // A StatefulSet stops its rolling update at the first pod that does not get ready, so a failing image reaches one pod.
                if (failing ? pods.Items.Any(p => p.Spec.Containers[0].Image == image && p.Status?.ContainerStatuses?.Any(c => c.State?.Waiting is not null) == true)
                    : pods.Items.Count > 0 && pods.Items.All(p => p.Spec.Containers[0].Image == image) && pods.Items.All(p => p.Status?.ContainerStatuses?.All(c => c.Ready) == true))
                {
                    if (kind == "StatefulSet")
                    {
                        var s = await Client.AppsV1.ReadNamespacedStatefulSetAsync(name, "default");
                        if (failing || s.Status?.CurrentRevision == s.Status?.UpdateRevision)
                        {
                            return;
                        }
                    }
                    else
                    {
                        return;
                    }
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{kind} {name} did not settle on {image}");
    }

    public async Task<V1Deployment> ReadAsync(string name) => await Client.AppsV1.ReadNamespacedDeploymentAsync(name, "default");

    public async Task<string> ImageAsync(string name) => (await ReadAsync(name)).Spec.Template.Spec.Containers[0].Image;

    /// <summary>Records the workload's current template as verified-good, as Test-RollbackHealth -RecordVerified does.</summary>
    public async Task RecordVerifiedAsync(string name, string kind = "Deployment")
    {
        var passing = new ScriptAction("passes", _ => Task.FromResult(new ScriptOutcome(true, "ok", 0)));
        var report = await RollbackEngine.TestHealthAsync(Request(name, kind: kind) with { Verification = new VerificationOptions { SmokeTests = new[] { passing } } }, null, recordVerified: true, signalOnFailure: false, Context());
        Assert.True(report.Healthy);
        Assert.NotNull(report.RecordedVerifiedVersion);
    }

    public (int ExitCode, string Output) Kubectl(params string[] arguments)
    {
        var run = cluster.Run(arguments);
        return (run.ExitCode, run.CombinedOutput);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await cluster.DisposeAsync();
    }
}

public class KubernetesTests
{
    private static string Describe(RollbackResult? result) => result is null ? "no result" : $"{result.Outcome}: {result.Message} | " + string.Join(" | ", result.Steps.Select(s => $"{s.Name}: {s.Status} {s.Message}"));

    [RequiresFact(Component.Kubectl)]
    public async Task Rolls_back_like_kubectl_rollout_undo_and_leaves_the_same_object()
    {
        await using var kube = await KubeFixture.StartAsync();
        foreach (var name in new[] { "by-kubectl", "by-us" })
        {
            await kube.DeployAsync(name, "registry/app:1.0");
            await kube.SetImageAsync(name, "registry/app:2.0");
            await kube.SetImageAsync(name, "registry/app:3.0-crash");
        }

        var undo = kube.Kubectl("rollout", "undo", "deployment/by-kubectl");
        Assert.True(undo.ExitCode == 0, undo.Output);
        var result = await RollbackEngine.InvokeAsync(kube.Request("by-us"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        var theirs = await kube.ReadAsync("by-kubectl");
        var ours = await kube.ReadAsync("by-us");
        Assert.Equal("registry/app:2.0", ours.Spec.Template.Spec.Containers[0].Image);
        Assert.Equal(Normalise(theirs.Spec.Template, "by-kubectl"), Normalise(ours.Spec.Template, "by-us"));
        Assert.Equal(Annotations(theirs, "by-kubectl"), Annotations(ours, "by-us"));
        Assert.Equal("4", ours.Metadata.Annotations["deployment.kubernetes.io/revision"]);
        Assert.Equal(theirs.Metadata.Annotations["deployment.kubernetes.io/revision"], ours.Metadata.Annotations["deployment.kubernetes.io/revision"]);
        Assert.Equal(VerificationOutcome.NotRun, result.Verification);
        Assert.Contains(result.Steps, s => s.Name.StartsWith("WaitRollout") && s.Status == StepStatus.Succeeded);
    }

    [RequiresFact(Component.Kubectl)]
    public async Task Target_revision_is_exact_like_to_revision()
    {
        await using var kube = await KubeFixture.StartAsync();
        foreach (var name in new[] { "by-kubectl", "by-us" })
        {
            await kube.DeployAsync(name, "registry/app:1.0");
            await kube.SetImageAsync(name, "registry/app:2.0");
            await kube.SetImageAsync(name, "registry/app:3.0");
        }

        Assert.Equal(0, kube.Kubectl("rollout", "undo", "deployment/by-kubectl", "--to-revision=1").ExitCode);
        var result = await RollbackEngine.InvokeAsync(kube.Request("by-us", "1"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        var theirs = await kube.ReadAsync("by-kubectl");
        var ours = await kube.ReadAsync("by-us");
        Assert.Equal("registry/app:1.0", ours.Spec.Template.Spec.Containers[0].Image);
        Assert.Equal(Normalise(theirs.Spec.Template, "by-kubectl"), Normalise(ours.Spec.Template, "by-us"));
        Assert.Equal(Annotations(theirs, "by-kubectl"), Annotations(ours, "by-us"));
    }

    [Fact]
    public async Task Goes_to_the_last_verified_good_template_not_merely_the_previous_revision_and_a_second_run_is_harmless()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.RecordVerifiedAsync("web");
        await kube.SetImageAsync("web", "registry/app:2.0-unready");
        await kube.SetImageAsync("web", "registry/app:3.0-crash");

        var assessment = await RollbackEngine.AssessAsync(kube.Request("web"), kube.Context());
        Assert.Equal(FailureType.DeploymentNeverCompleted, assessment.FailureType);
        Assert.Contains("registry/app:1.0", assessment.LastGoodVersion);
        Assert.Contains(assessment.Errors, e => e.Contains("crash-looping"));
        Assert.Contains(assessment.Errors, e => e.Contains("progress deadline"));
        Assert.Equal("1", assessment.Facts["target_revision"]);

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());
        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("web"));

        var again = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("web"));
    }

    [Fact]
    public async Task Verifies_with_smoke_tests_and_records_the_restored_template_verified_good()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");
        var smoke = new ScriptAction("smoke", async _ =>
        {
            // The smoke test sees the rolled-back workload: its image is the good one again.
            var image = await kube.ImageAsync("web");
            return new ScriptOutcome(image == "registry/app:1.0", image, 0);
        });

        var result = await RollbackEngine.InvokeAsync(kube.Request("web") with { Verification = new VerificationOptions { SmokeTests = new[] { smoke } } }, kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        Assert.Equal(VerificationOutcome.Passed, result.Verification);
        var verified = Assert.Single(kube.State().Journal.GetVerified());
        Assert.StartsWith("app=registry/app:1.0 (template ", verified.Version);
        Assert.NotNull(verified.Snapshot);
        Assert.True(File.Exists(Path.Combine(verified.Snapshot!, "kubernetes.json")));
        // The next bad release: the default goes back to the template verified above, not to the previous revision (2.0-crash).
        await kube.SetImageAsync("web", "registry/app:3.0-crash");
        var back = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());
        Assert.Equal(RollbackOutcome.Succeeded, back!.Outcome);
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("web"));
    }

    [Fact]
    public async Task A_verified_record_without_template_hash_is_matched_by_the_version_it_names()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        var good = (await RollbackEngine.AssessAsync(kube.Request("web"), kube.Context())).CurrentVersion!;
        await kube.SetImageAsync("web", "registry/app:2.0");
        await kube.SetImageAsync("web", "registry/app:3.0-crash");
        // As a piped Test-RollbackHealth records it when it cannot read the workload: the version only.
        kube.State().Journal.RecordVerified(new VerifiedVersion { TargetKey = "kubernetes:fake/default/deployment/web", Strategy = "Kubernetes", Version = good, RecordedAt = DateTimeOffset.UtcNow, Evidence = "test" });

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("web"));
    }

    [Fact]
    public async Task A_stale_progress_deadline_does_not_fail_the_rollback_and_a_bad_target_fails_with_pod_states()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0-crash");
        await kube.SetImageAsync("web", "registry/app:2.0");
        await kube.SetImageAsync("web", "registry/app:3.0-badpull");
        Assert.Equal("ProgressDeadlineExceeded", (await kube.ReadAsync("web")).Status.Conditions.First(c => c.Type == "Progressing").Reason);

        // The deadline condition from the failed rollout is still there when the rollback starts; it must not count.
        var good = await RollbackEngine.InvokeAsync(kube.Request("web", "2"), kube.Context());
        Assert.True(good!.Outcome == RollbackOutcome.Succeeded, Describe(good));

        var bad = await RollbackEngine.InvokeAsync(kube.Request("web", "1").WithTarget<KubernetesTarget>(t => t with { Timeout = TimeSpan.FromSeconds(15) }), kube.Context());
        Assert.Equal(RollbackOutcome.Failed, bad!.Outcome);
        var wait = Assert.Single(bad.Steps, s => s.Name.StartsWith("WaitRollout"));
        Assert.Equal(ErrorIds.KubernetesRolloutFailed, wait.ErrorId);
        Assert.Contains("crash-looping", wait.Message);
        Assert.Contains("progress deadline", wait.Message);
    }

    [Fact]
    public async Task Waits_by_watching_and_uses_the_minimum_requests()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");
        var observer = new RecordingObserver();
        kube.Server.ClearRequests();

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context(observer));

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        var requests = kube.Server.Requests.ToList();
        var deploymentReads = requests.Where(r => r.Resource == "deployments" && r.Verb == "get").ToList();
        Assert.Single(requests, r => r.Verb == "patch");
        Assert.Single(deploymentReads);
        Assert.Single(requests, r => r.Resource == "replicasets" && r.Verb == "list");
        Assert.Contains(requests, r => r.Resource == "deployments" && r.Verb == "watch");
        Assert.Equal("application/json-patch+json", requests.Single(r => r.Verb == "patch").PatchType);
        Assert.Contains(observer.ProgressUpdates, p => p.Status.Contains("Waiting for the rollout"));
    }

    [Fact]
    public async Task A_conflicting_change_is_re_read_and_re_decided_and_5xx_answers_are_retried()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");
        kube.Server.Faults.Add(new FaultRule { Method = "PATCH", PathContains = "/deployments/web", StatusCode = 409, Times = 1 });
        kube.Server.Faults.Add(new FaultRule { Method = "GET", PathContains = "/deployments/web", StatusCode = 503, Times = 2 });
        kube.Server.ClearRequests();

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        var patch = Assert.Single(result.Steps, s => s.Name.StartsWith("PatchTemplate"));
        Assert.Contains("changed by someone else", patch.Message);
        Assert.Equal(2, kube.Server.Requests.Count(r => r.Verb == "patch"));
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("web"));
    }

    [RequiresFact(Component.Kubectl)]
    public async Task A_change_made_by_someone_else_in_between_is_never_overwritten_blindly()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");
        var observer = new SomeoneElseRollsBack(kube);

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context(observer));

        // Between our read and our patch, another admin rolled back by hand: the patch conflicts, the re-read finds nothing left to do.
        Assert.True(observer.Done);
        var patch = Assert.Single(result!.Steps, s => s.Name.StartsWith("PatchTemplate"));
        Assert.Equal(StepStatus.Skipped, patch.Status);
        Assert.Contains("changed by someone else", patch.Message);
        // kubectl's own undo made revision 3; nothing of ours came after it.
        Assert.Equal("3", (await kube.ReadAsync("web")).Metadata.Annotations["deployment.kubernetes.io/revision"]);
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("web"));
    }

    [Fact]
    public async Task Restores_the_configmap_and_secret_recorded_with_the_verified_template_and_never_writes_the_secret()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "web-config" }, Data = new Dictionary<string, string> { ["LEVEL"] = "info" } }, "default");
        await kube.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "web-secret" }, Data = new Dictionary<string, byte[]> { ["password"] = System.Text.Encoding.UTF8.GetBytes("hunter2-verified") } }, "default");
        await kube.DeployAsync("web", "registry/app:1.0", customise: spec =>
        {
            spec.Containers[0].EnvFrom = new List<V1EnvFromSource> { new() { ConfigMapRef = new V1ConfigMapEnvSource { Name = "web-config" } } };
            spec.Volumes = new List<V1Volume> { new() { Name = "creds", Secret = new V1SecretVolumeSource { SecretName = "web-secret" } } };
        });
        await kube.RecordVerifiedAsync("web");

        // The bad release changed both the config and the image.
        await kube.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("{\"data\":{\"LEVEL\":\"debug-broken\"}}", V1Patch.PatchType.MergePatch), "web-config", "default");
        await kube.Client.CoreV1.PatchNamespacedSecretAsync(new V1Patch($"{{\"data\":{{\"password\":\"{Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("hunter2-broken"))}\"}}}}", V1Patch.PatchType.MergePatch), "web-secret", "default");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");

        var observer = new RecordingObserver(consent: false);
        Assert.Null(await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context(observer)));
        Assert.Contains(observer.Asked, a => a.Contains("Restore ConfigMap web-config"));
        Assert.Contains(observer.Asked, a => a.Contains("Restore Secret web-secret"));
        Assert.Contains(observer.Asked, a => a.Contains("image registry/app:2.0-crash -> registry/app:1.0"));
        Assert.Equal("debug-broken", (await kube.Client.CoreV1.ReadNamespacedConfigMapAsync("web-config", "default")).Data["LEVEL"]);

        var result = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        Assert.Equal("info", (await kube.Client.CoreV1.ReadNamespacedConfigMapAsync("web-config", "default")).Data["LEVEL"]);
        Assert.Equal("hunter2-verified", System.Text.Encoding.UTF8.GetString((await kube.Client.CoreV1.ReadNamespacedSecretAsync("web-secret", "default")).Data["password"]));
        var copies = await kube.Client.CoreV1.ListNamespacedSecretAsync("default", labelSelector: "deployment-rollback.io/copy-of=web-secret");
        Assert.Contains(copies.Items, s => s.Metadata.Labels["deployment-rollback.io/copy"] == "failed" && System.Text.Encoding.UTF8.GetString(s.Data["password"]) == "hunter2-broken");
        foreach (var file in Directory.EnumerateFiles(kube.StatePath, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".db-wal") && !f.EndsWith(".db-shm")))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain("hunter2", text);
            Assert.DoesNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("hunter2-broken")), text);
        }
    }

    [Fact]
    public async Task The_checkpoint_keeps_the_workload_revisions_pods_events_and_logs_of_the_failed_state()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");

        var checkpoint = await RollbackEngine.CreateCheckpointAsync(kube.Request("web"), kube.Context());

        var files = checkpoint!.Artefacts;
        Assert.Contains("workload.json", files);
        Assert.Contains("revisions.json", files);
        Assert.Contains("pods.json", files);
        Assert.Contains("events.txt", files);
        Assert.Contains(files, f => f.StartsWith("logs/"));
        Assert.Contains("CrashLoopBackOff", File.ReadAllText(Path.Combine(checkpoint.Folder, "pods.json")));
        Assert.Contains("registry/app:2.0-crash", File.ReadAllText(Path.Combine(checkpoint.Folder, "workload.json")));
        Assert.Contains("BackOff", File.ReadAllText(Path.Combine(checkpoint.Folder, "events.txt")));
    }

    [Fact]
    public async Task Rolls_back_only_the_failing_workloads_matching_a_selector_in_parallel()
    {
        await using var kube = await KubeFixture.StartAsync();
        var tier = new Dictionary<string, string> { ["tier"] = "web" };
        foreach (var name in new[] { "shop", "cart", "search" })
        {
            await kube.DeployAsync(name, "registry/app:1.0", new Dictionary<string, string>(tier));
        }

        await kube.DeployAsync("other", "registry/app:1.0");
        await kube.SetImageAsync("other", "registry/app:2.0-crash");
        await kube.SetImageAsync("shop", "registry/app:2.0-crash");
        await kube.SetImageAsync("cart", "registry/app:2.0-badpull");
        await kube.SetImageAsync("search", "registry/app:2.0");

        var outcomes = await RollbackEngine.InvokeSelectedAsync(kube.Request("").WithTarget<KubernetesTarget>(t => t with { Name = null, Selector = "tier=web" }), kube.Context());

        Assert.Equal(new[] { "cart", "search", "shop" }, outcomes.Select(o => o.Name).OrderBy(n => n));
        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(RollbackOutcome.Succeeded, outcomes.Single(o => o.Name == "shop").Result!.Outcome);
        Assert.Equal(RollbackOutcome.Succeeded, outcomes.Single(o => o.Name == "cart").Result!.Outcome);
        Assert.Equal(RollbackOutcome.Skipped, outcomes.Single(o => o.Name == "search").Result!.Outcome);
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("shop"));
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("cart"));
        Assert.Equal("registry/app:2.0", await kube.ImageAsync("search"));
        Assert.Equal("registry/app:2.0-crash", await kube.ImageAsync("other"));
        // Each has its own checkpoint, even when they start in the same second.
        var checkpoints = outcomes.Select(o => o.Result!.CheckpointName).Where(n => n is not null).ToList();
        Assert.Equal(2, checkpoints.Distinct().Count());

        var all = await RollbackEngine.InvokeSelectedAsync(kube.Request("").WithTarget<KubernetesTarget>(t => t with { Name = null, Selector = "tier=web", All = true }), kube.Context());
        Assert.Equal(RollbackOutcome.Succeeded, all.Single(o => o.Name == "search").Result!.Outcome);
        Assert.Equal("registry/app:1.0", await kube.ImageAsync("search"));
    }

    [RequiresFact(Component.Kubectl)]
    public Task Rolls_back_a_statefulset_to_its_controller_revision_replacing_the_stuck_pod() => RollsBackControllerRevisions("StatefulSet");

    [RequiresFact(Component.Kubectl)]
    public Task Rolls_back_a_daemonset_to_its_controller_revision() => RollsBackControllerRevisions("DaemonSet");

    private static async Task RollsBackControllerRevisions(string kind)
    {
        await using var kube = await KubeFixture.StartAsync();
        var manifest = kube.Temp.Combine("workload.yaml");
        File.WriteAllText(manifest, $"""
            apiVersion: apps/v1
            kind: {kind}
            metadata:
              name: db
            spec:
              {(kind == "StatefulSet" ? "serviceName: db\n  replicas: 2" : "updateStrategy:\n    type: RollingUpdate")}
              selector:
                matchLabels:
                  app: db
              template:
                metadata:
                  labels:
                    app: db
                spec:
                  containers:
                  - name: app
                    image: registry/db:1.0
            """);
        var created = kube.Kubectl("create", "-f", manifest);
        Assert.True(created.ExitCode == 0, created.Output);
        await kube.SettleAsync("db", "registry/db:1.0", kind);
        await kube.SetImageAsync("db", "registry/db:2.0-crash", kind);

        var result = await RollbackEngine.InvokeAsync(kube.Request("db", kind: kind), kube.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, Describe(result));
        var image = kind == "StatefulSet"
            ? (await kube.Client.AppsV1.ReadNamespacedStatefulSetAsync("db", "default")).Spec.Template.Spec.Containers[0].Image
            : (await kube.Client.AppsV1.ReadNamespacedDaemonSetAsync("db", "default")).Spec.Template.Spec.Containers[0].Image;
        Assert.Equal("registry/db:1.0", image);
        if (kind == "StatefulSet")
        {
            // The crash-looping pod would hold the rollout forever: it was replaced.
            Assert.Contains("stuck on the failed revision", Assert.Single(result.Steps, s => s.Name.StartsWith("ReplaceStuckPods")).Message);
            Assert.StartsWith("Deleted 1 pod", result.Steps.Single(s => s.Name.StartsWith("ReplaceStuckPods")).Message);
        }
        var history = kube.Kubectl("rollout", "history", $"{kind.ToLowerInvariant()}/db");
        Assert.Contains("3", history.Output);
    }

    [RequiresFact(Component.Kubectl)]
    public async Task Refuses_a_paused_deployment_and_changes_nothing()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0");
        Assert.Equal(0, kube.Kubectl("rollout", "pause", "deployment/web").ExitCode);
        // The controller keeps writing status; what must not change is the spec (its generation).
        var before = (await kube.ReadAsync("web")).Metadata.Generation;

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context()));

        Assert.Equal(ErrorIds.KubernetesDeploymentPaused, error.ErrorId);
        Assert.Contains("kubectl rollout resume", error.Message);
        Assert.Equal(before, (await kube.ReadAsync("web")).Metadata.Generation);
        Assert.Equal("registry/app:2.0", await kube.ImageAsync("web"));
    }

    [Fact]
    public async Task Gives_a_clear_error_for_each_thing_that_can_be_wrong_before_changing_anything()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.DeployAsync("single", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0");
        var before = (await kube.ReadAsync("web")).Metadata.Generation;

        async Task<RollbackException> Fails(RollbackRequest request) => await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(request, kube.Context()));

        var notFound = await Fails(kube.Request("nope"));
        Assert.Equal(ErrorIds.KubernetesWorkloadNotFound, notFound.ErrorId);
        Assert.DoesNotContain(InnerExceptions(notFound), e => e is k8s.Autorest.HttpOperationException);
        Assert.Equal(ErrorIds.KubernetesNamespaceNotFound, (await Fails(kube.Request("web", @namespace: "nowhere"))).ErrorId);
        var context = await Fails(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { Context = "prod" }));
        Assert.Equal(ErrorIds.KubernetesContextNotFound, context.ErrorId);
        Assert.Contains("fake", context.Message);
        var revision = await Fails(kube.Request("web", "9"));
        Assert.Equal(ErrorIds.KubernetesRevisionNotFound, revision.ErrorId);
        Assert.Contains("1, 2", revision.Message);
        Assert.Equal(ErrorIds.KubernetesRevisionNotFound, (await Fails(kube.Request("web", "2; rm -rf /"))).ErrorId);
        Assert.Equal(ErrorIds.KubernetesNoRolloutHistory, (await Fails(kube.Request("single"))).ErrorId);
        Assert.Equal(ErrorIds.KubernetesKindInvalid, (await Fails(kube.Request("web", kind: "CronJob"))).ErrorId);
        Assert.Equal(ErrorIds.KubernetesNameMissing, (await Fails(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { Name = null }))).ErrorId);

        var malformed = kube.Temp.Combine("bad-kubeconfig");
        File.WriteAllText(malformed, "apiVersion: v1\nclusters: [this is: not: yaml\n");
        Assert.Equal(ErrorIds.KubeConfigInvalid, (await Fails(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { KubeConfig = malformed }))).ErrorId);
        Assert.Equal(ErrorIds.KubeConfigInvalid, (await Fails(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { KubeConfig = kube.Temp.Combine("missing") }))).ErrorId);

        var unreachable = kube.Temp.Combine("unreachable");
        File.WriteAllText(unreachable, File.ReadAllText(kube.KubeConfig).Replace(kube.Server.BaseUri.Authority, "127.0.0.1:1"));
        Assert.Equal(ErrorIds.KubernetesUnreachable, (await Fails(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { KubeConfig = unreachable }))).ErrorId);

        kube.Server.Faults.Add(new FaultRule { Method = "GET", PathContains = "/deployments/web", StatusCode = 403, Times = 1 });
        var forbidden = await Fails(kube.Request("web"));
        Assert.Equal(ErrorIds.KubernetesForbidden, forbidden.ErrorId);
        Assert.Contains("RBAC", forbidden.Message);

        Assert.Equal(before, (await kube.ReadAsync("web")).Metadata.Generation);
        Assert.Empty(kube.State().Journal.GetAttempts());
    }

    [Fact]
    public async Task Over_TLS_with_a_read_only_token_the_refused_patch_is_KubernetesForbidden_and_no_token_is_written()
    {
        await using var kube = await KubeFixture.StartAsync(o => { o.Tls = true; o.Token = "admin-token-s3cr3t"; o.ReadOnlyToken = "reader-token-s3cr3t"; });
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0-crash");
        var reader = kube.Temp.Combine("reader-kubeconfig");
        kube.Server.WriteKubeconfig(reader, readOnly: true);

        var assessment = await RollbackEngine.AssessAsync(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { KubeConfig = reader }), kube.Context());
        Assert.Contains("registry/app:1.0", assessment.LastGoodVersion);
        var result = await RollbackEngine.InvokeAsync(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { KubeConfig = reader }), kube.Context());

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        var patch = Assert.Single(result.Steps, s => s.Name.StartsWith("PatchTemplate"));
        Assert.Equal(ErrorIds.KubernetesForbidden, patch.ErrorId);
        Assert.Contains("RBAC", patch.Message);
        Assert.Equal("registry/app:2.0-crash", await kube.ImageAsync("web"));
        foreach (var file in Directory.EnumerateFiles(kube.StatePath, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain("s3cr3t", File.ReadAllText(file));
        }

        var wrong = kube.Temp.Combine("wrong-kubeconfig");
        File.WriteAllText(wrong, File.ReadAllText(reader).Replace("reader-token-s3cr3t", "not-a-token"));
        var unauthorized = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(kube.Request("web").WithTarget<KubernetesTarget>(t => t with { KubeConfig = wrong }), kube.Context()));
        Assert.Equal(ErrorIds.KubernetesUnauthorized, unauthorized.ErrorId);
        // The client's exception holds the request, whose Authorization header is the kubeconfig's token: anything that
        // serialises the error record ($Error | ConvertTo-Json) would write it out.
        Assert.DoesNotContain(InnerExceptions(unauthorized), e => e is k8s.Autorest.HttpOperationException);
        Assert.Contains("401", unauthorized.InnerException!.Message);
    }

    private static IEnumerable<Exception> InnerExceptions(Exception error)
    {
        for (var inner = error.InnerException; inner is not null; inner = inner.InnerException)
        {
            yield return inner;
        }
    }

    private static string Normalise(V1PodTemplateSpec template, string name)
    {
        var json = JsonNode.Parse(KubernetesJson.Serialize(template))!.AsObject();
        (json["metadata"]?["labels"] as JsonObject)?.Remove("pod-template-hash");
        return json.ToJsonString().Replace(name, "NAME");
    }

    private static string Annotations(V1Deployment deployment, string name) =>
        string.Join(";", deployment.Metadata.Annotations.OrderBy(a => a.Key).Select(a => $"{a.Key}={a.Value.Replace(name, "NAME")}"));

    /// <summary>Answers every ShouldProcess with yes, but before the patch step is consented, rolls the deployment back by hand with kubectl.</summary>
    private sealed class SomeoneElseRollsBack : IRollbackObserver
    {
        private readonly KubeFixture kube;

        public SomeoneElseRollsBack(KubeFixture kube) => this.kube = kube;

        public bool Done { get; private set; }

        public void Progress(ProgressUpdate update)
        {
        }

        public void Verbose(string message)
        {
        }

        public void Warning(string message)
        {
        }

        public Task<bool> ShouldProcessAsync(string target, string action)
        {
            if (!Done && action.StartsWith("Replace the pod template", StringComparison.Ordinal))
            {
                Assert.Equal(0, kube.Kubectl("rollout", "undo", "deployment/web").ExitCode);
                Done = true;
            }

            return Task.FromResult(true);
        }
    }
}
