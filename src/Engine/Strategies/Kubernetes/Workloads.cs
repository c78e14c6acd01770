using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace DeploymentRollback.Engine.Kubernetes;

internal enum WorkloadKind
{
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// <summary>One revision of a workload's pod template: a ReplicaSet (Deployment) or a ControllerRevision (StatefulSet, DaemonSet).</summary>
internal sealed record Revision(long Number, JsonObject Template, string SourceName, IReadOnlyDictionary<string, string> Annotations)
{
    public string Hash => PodTemplates.Hash(Template);

    public string? ChangeCause => Annotations.TryGetValue("kubernetes.io/change-cause", out var cause) ? cause : null;
}

/// <summary>A workload as read from the API, kept as JSON so the three kinds share one rollback algorithm.</summary>
internal sealed class Workload
{
    public Workload(WorkloadKind kind, JsonObject json)
    {
        Kind = kind;
        Json = json;
    }

    public WorkloadKind Kind { get; }
    public JsonObject Json { get; }
    public string Name => (string)Json["metadata"]!["name"]!;
    public string Namespace => (string)Json["metadata"]!["namespace"]!;
    public string Uid => (string?)Json["metadata"]!["uid"] ?? "";
    public string ResourceVersion => (string?)Json["metadata"]!["resourceVersion"] ?? "";
    public long Generation => (long?)Json["metadata"]!["generation"] ?? 0;
    public JsonObject Template => Json["spec"]!["template"]!.AsObject();
    public bool Paused => (bool?)Json["spec"]!["paused"] ?? false;
    public string Display => $"{Kind.ToString().ToLowerInvariant()}/{Name}";

    public IReadOnlyDictionary<string, string> Annotations =>
        (Json["metadata"]!["annotations"] as JsonObject)?.ToDictionary(p => p.Key, p => (string?)p.Value ?? "", StringComparer.Ordinal) ?? new Dictionary<string, string>();

    /// <summary>The spec.selector as a label-selector string for LIST calls.</summary>
    public string Selector => Workloads.SelectorString(Json["spec"]?["selector"]);

    /// <summary>The Progressing condition's reason and last update, to tell a stale ProgressDeadlineExceeded from a new one.</summary>
    public (string? Reason, string? Updated) Progressing
    {
        get
        {
            var condition = (Json["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => (string?)c?["type"] == "Progressing");
            return ((string?)condition?["reason"], (string?)condition?["lastUpdateTime"]);
        }
    }

    /// <summary>kubectl rollout status's verdict, except that a deadline exceeded before our change does not count.</summary>
    public RolloutState Evaluate(long sinceGeneration, (string? Reason, string? Updated) staleDeadline)
    {
        var status = Json["status"];
        var observed = (long?)status?["observedGeneration"] ?? 0;
        if (observed < Math.Max(Generation, sinceGeneration))
        {
            return RolloutState.Waiting("waiting for the controller to observe the new template");
        }

        long Get(string field) => (long?)status?[field] ?? 0;
        var desired = (long?)Json["spec"]?["replicas"] ?? 1;
        switch (Kind)
        {
            case WorkloadKind.Deployment:
                var progressing = Progressing;
                if (progressing.Reason == "ProgressDeadlineExceeded" && progressing != staleDeadline)
                {
                    return RolloutState.Failed($"{Display} exceeded its progress deadline");
                }

                if (Get("updatedReplicas") < desired)
                {
                    return RolloutState.Waiting($"{Get("updatedReplicas")} of {desired} new replicas have been updated");
                }

                if (Get("replicas") > Get("updatedReplicas"))
                {
                    return RolloutState.Waiting($"{Get("replicas") - Get("updatedReplicas")} old replicas are pending termination");
                }

                return Get("availableReplicas") < Get("updatedReplicas")
                    ? RolloutState.Waiting($"{Get("availableReplicas")} of {Get("updatedReplicas")} updated replicas are available")
                    : RolloutState.Done($"{Get("availableReplicas")} of {desired} replicas available");
            case WorkloadKind.StatefulSet:
                if ((string?)Json["spec"]?["updateStrategy"]?["type"] == "OnDelete")
                {
                    return RolloutState.Done("the OnDelete update strategy updates pods only when they are deleted");
                }

                if (Get("readyReplicas") < desired)
                {
                    return RolloutState.Waiting($"{Get("readyReplicas")} of {desired} pods are ready");
                }

                return (string?)status?["updateRevision"] != (string?)status?["currentRevision"]
                    ? RolloutState.Waiting($"{Get("updatedReplicas")} of {desired} pods run the new revision")
                    : RolloutState.Done($"{Get("readyReplicas")} of {desired} pods ready at revision {(string?)status?["currentRevision"]}");
            default:
                var wanted = Get("desiredNumberScheduled");
                if (Get("updatedNumberScheduled") < wanted)
                {
                    return RolloutState.Waiting($"{Get("updatedNumberScheduled")} of {wanted} updated pods scheduled");
                }

                return Get("numberAvailable") < wanted
                    ? RolloutState.Waiting($"{Get("numberAvailable")} of {wanted} updated pods available")
                    : RolloutState.Done($"{Get("numberAvailable")} of {wanted} pods available");
        }
    }
}

internal sealed record RolloutState(bool IsDone, bool IsFailed, string Message)
{
    public static RolloutState Done(string message) => new(true, false, message);
    public static RolloutState Failed(string message) => new(false, true, message);
    public static RolloutState Waiting(string message) => new(false, false, message);
}

/// <summary>The API calls per kind; everything above them works on JSON.</summary>
internal static class Workloads
{
    public const string RevisionAnnotation = "deployment.kubernetes.io/revision";

    // kubectl keeps these from the Deployment and copies every other annotation from the ReplicaSet it rolls back to.
    private static readonly HashSet<string> AnnotationsKeptFromDeployment = new(StringComparer.Ordinal)
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        RevisionAnnotation,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    };

    public static WorkloadKind ParseKind(string? kind) => kind switch
    {
        null or "" => WorkloadKind.Deployment,
        _ when Enum.TryParse<WorkloadKind>(kind, ignoreCase: true, out var parsed) && !int.TryParse(kind, out _) => parsed,
        _ => throw new RollbackException(ErrorIds.KubernetesKindInvalid, RollbackErrorKind.InvalidArgument,
            $"'{kind}' is not a kind the Kubernetes strategy rolls back. Use Deployment, StatefulSet or DaemonSet."),
    };

    public static async Task<Workload> ReadAsync(KubeConnection connection, WorkloadKind kind, string name, CancellationToken cancellation)
    {
        object read = kind switch
        {
            WorkloadKind.Deployment => await connection.Client.AppsV1.ReadNamespacedDeploymentAsync(name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false),
            WorkloadKind.StatefulSet => await connection.Client.AppsV1.ReadNamespacedStatefulSetAsync(name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false),
            _ => await connection.Client.AppsV1.ReadNamespacedDaemonSetAsync(name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false),
        };
        return new Workload(kind, ToJson(read));
    }

    public static async Task<IReadOnlyList<Workload>> ListAsync(KubeConnection connection, WorkloadKind kind, string selector, CancellationToken cancellation)
    {
        IEnumerable<object> items = kind switch
        {
            WorkloadKind.Deployment => (await connection.Client.AppsV1.ListNamespacedDeploymentAsync(connection.Namespace, labelSelector: selector, cancellationToken: cancellation).ConfigureAwait(false)).Items,
            WorkloadKind.StatefulSet => (await connection.Client.AppsV1.ListNamespacedStatefulSetAsync(connection.Namespace, labelSelector: selector, cancellationToken: cancellation).ConfigureAwait(false)).Items,
            _ => (await connection.Client.AppsV1.ListNamespacedDaemonSetAsync(connection.Namespace, labelSelector: selector, cancellationToken: cancellation).ConfigureAwait(false)).Items,
        };
        return items.Select(i => new Workload(kind, ToJson(i))).ToList();
    }

    /// <summary>The workload's revisions, oldest first: the ReplicaSets or ControllerRevisions it controls (by owner uid, as kubectl does).</summary>
    public static async Task<IReadOnlyList<Revision>> RevisionsAsync(KubeConnection connection, Workload workload, CancellationToken cancellation)
    {
        var revisions = new List<Revision>();
        if (workload.Kind == WorkloadKind.Deployment)
        {
            var sets = await connection.Client.AppsV1.ListNamespacedReplicaSetAsync(workload.Namespace, labelSelector: workload.Selector, cancellationToken: cancellation).ConfigureAwait(false);
            foreach (var set in sets.Items.Where(s => OwnedBy(s.Metadata, workload.Uid)))
            {
                if (set.Metadata.Annotations?.TryGetValue(RevisionAnnotation, out var text) == true && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
                {
                    revisions.Add(new Revision(number, ToJson(set.Spec.Template), set.Metadata.Name,
                        set.Metadata.Annotations.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal)));
                }
            }
        }
        else
        {
            var history = await connection.Client.AppsV1.ListNamespacedControllerRevisionAsync(workload.Namespace, labelSelector: workload.Selector, cancellationToken: cancellation).ConfigureAwait(false);
            foreach (var revision in history.Items.Where(r => OwnedBy(r.Metadata, workload.Uid)))
            {
                // The controller stores {"spec":{"template":{..., "$patch":"replace"}}}: the template is inside.
                if (ToJsonNode(revision.Data)?["spec"]?["template"] is JsonObject template)
                {
                    var clean = template.DeepClone().AsObject();
                    clean.Remove("$patch");
                    revisions.Add(new Revision(revision.Revision ?? 0, clean, revision.Metadata.Name,
                        revision.Metadata.Annotations?.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal) ?? new Dictionary<string, string>()));
                }
            }
        }

        return revisions.OrderBy(r => r.Number).ToList();
    }

    /// <summary>
    /// kubectl's patch (replace spec.template, and for a Deployment the annotations it computes), plus the workload's
    /// resourceVersion: the API server then refuses the patch with 409 if anyone changed the workload since it was read.
    /// </summary>
    public static async Task<Workload> PatchTemplateAsync(KubeConnection connection, Workload workload, Revision target, CancellationToken cancellation)
    {
        var template = PodTemplates.WithoutHashLabel(target.Template);
        var operations = new JsonArray
        {
            new JsonObject { ["op"] = "replace", ["path"] = "/metadata/resourceVersion", ["value"] = workload.ResourceVersion },
            new JsonObject { ["op"] = "replace", ["path"] = "/spec/template", ["value"] = template },
        };
        if (workload.Kind == WorkloadKind.Deployment)
        {
            operations.Add(new JsonObject { ["op"] = "replace", ["path"] = "/metadata/annotations", ["value"] = DeploymentAnnotations(workload, target) });
        }

        var patch = new V1Patch(operations.ToJsonString(), V1Patch.PatchType.JsonPatch);
        object patched = workload.Kind switch
        {
            WorkloadKind.Deployment => await connection.Client.AppsV1.PatchNamespacedDeploymentAsync(patch, workload.Name, workload.Namespace, cancellationToken: cancellation).ConfigureAwait(false),
            WorkloadKind.StatefulSet => await connection.Client.AppsV1.PatchNamespacedStatefulSetAsync(patch, workload.Name, workload.Namespace, cancellationToken: cancellation).ConfigureAwait(false),
            _ => await connection.Client.AppsV1.PatchNamespacedDaemonSetAsync(patch, workload.Name, workload.Namespace, cancellationToken: cancellation).ConfigureAwait(false),
        };
        return new Workload(workload.Kind, ToJson(patched));
    }

    public static JsonObject DeploymentAnnotations(Workload workload, Revision target)
    {
        var annotations = new JsonObject();
        foreach (var (key, value) in workload.Annotations.Where(a => AnnotationsKeptFromDeployment.Contains(a.Key)))
        {
            annotations[key] = value;
        }

        foreach (var (key, value) in target.Annotations.Where(a => !AnnotationsKeptFromDeployment.Contains(a.Key)))
        {
            annotations[key] = value;
        }

        return annotations;
    }

    /// <summary>Watches the workload until its rollout is done, failed or the time is up; a dropped watch is resumed from the last version seen.</summary>
    public static async Task<(RolloutState State, Workload Last)> WaitAsync(KubeConnection connection, Workload patched, (string? Reason, string? Updated) staleDeadline,
        TimeSpan timeout, IRollbackObserver observer, string activity, CancellationToken cancellation)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        var started = DateTimeOffset.UtcNow;
        var last = patched;
        var state = last.Evaluate(patched.Generation, staleDeadline);
        var resourceVersion = patched.ResourceVersion;
        try
        {
            while (!state.IsDone && !state.IsFailed)
            {
                var remaining = timeout - (DateTimeOffset.UtcNow - started);
                var watchSeconds = (int)Math.Clamp(Math.Ceiling(remaining.TotalSeconds), 1, 300);
                var field = $"metadata.name={patched.Name}";
                // WatchAsync over a list call is the client's documented watch in 21.x; its replacement is not yet in this version's typed API.
#pragma warning disable CS0618
                var events = patched.Kind switch
                {
                    WorkloadKind.Deployment => Stream(connection.Client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(patched.Namespace, fieldSelector: field, resourceVersion: resourceVersion, timeoutSeconds: watchSeconds, watch: true, cancellationToken: deadline.Token).WatchAsync<V1Deployment, V1DeploymentList>(cancellationToken: deadline.Token)),
                    WorkloadKind.StatefulSet => Stream(connection.Client.AppsV1.ListNamespacedStatefulSetWithHttpMessagesAsync(patched.Namespace, fieldSelector: field, resourceVersion: resourceVersion, timeoutSeconds: watchSeconds, watch: true, cancellationToken: deadline.Token).WatchAsync<V1StatefulSet, V1StatefulSetList>(cancellationToken: deadline.Token)),
                    _ => Stream(connection.Client.AppsV1.ListNamespacedDaemonSetWithHttpMessagesAsync(patched.Namespace, fieldSelector: field, resourceVersion: resourceVersion, timeoutSeconds: watchSeconds, watch: true, cancellationToken: deadline.Token).WatchAsync<V1DaemonSet, V1DaemonSetList>(cancellationToken: deadline.Token)),
                };
#pragma warning restore CS0618
                await foreach (var (type, item) in events.ConfigureAwait(false))
                {
                    if (type == WatchEventType.Deleted)
                    {
                        return (RolloutState.Failed($"{patched.Display} was deleted while the rollout was running"), last);
                    }

                    if (type is not (WatchEventType.Added or WatchEventType.Modified))
                    {
                        continue;
                    }

                    last = new Workload(patched.Kind, item);
                    resourceVersion = last.ResourceVersion;
                    state = last.Evaluate(patched.Generation, staleDeadline);
                    var elapsed = DateTimeOffset.UtcNow - started;
                    observer.Progress(new ProgressUpdate(activity, $"Waiting for the rollout of {patched.Display}: {state.Message}",
                        (int)Math.Min(99, 100 * elapsed.TotalSeconds / timeout.TotalSeconds), (int)Math.Max(0, (timeout - elapsed).TotalSeconds)));
                    if (state.IsDone || state.IsFailed)
                    {
                        break;
                    }
                }

                // The stream ended (server timeout or a dropped connection): resume from the last version seen.
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellation.IsCancellationRequested)
        {
            return (RolloutState.Failed($"the rollout of {patched.Display} did not finish within {timeout.TotalSeconds:0} s ({state.Message})"), last);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
        {
            // The version we resume from is too old: read the current state and carry on from it.
            last = await ReadAsync(connection, patched.Kind, patched.Name, cancellation).ConfigureAwait(false);
            return await WaitAsync(connection, last, staleDeadline, timeout - (DateTimeOffset.UtcNow - started), observer, activity, cancellation).ConfigureAwait(false);
        }

        return (state, last);
    }

    public static JsonObject ToJson(object value) => ToJsonNode(value)?.AsObject() ?? new JsonObject();

    public static JsonNode? ToJsonNode(object? value) => value is null ? null : JsonNode.Parse(KubernetesJson.Serialize(value));

    public static string SelectorString(JsonNode? selector)
    {
        var parts = new List<string>();
        foreach (var (key, value) in selector?["matchLabels"] as JsonObject ?? new JsonObject())
        {
            parts.Add($"{key}={(string?)value}");
        }

        foreach (var expression in selector?["matchExpressions"] as JsonArray ?? new JsonArray())
        {
            var key = (string?)expression?["key"];
            var values = string.Join(",", (expression?["values"] as JsonArray ?? new JsonArray()).Select(v => (string?)v));
            parts.Add((string?)expression?["operator"] switch
            {
                "In" => $"{key} in ({values})",
                "NotIn" => $"{key} notin ({values})",
                "Exists" => key!,
                "DoesNotExist" => "!" + key,
                var other => throw new RollbackException(ErrorIds.KubernetesApiError, RollbackErrorKind.InvalidOperation, $"Unknown label selector operator '{other}'."),
            });
        }

        return string.Join(",", parts);
    }

    private static bool OwnedBy(V1ObjectMeta metadata, string uid) =>
        metadata.OwnerReferences?.Any(o => o.Controller == true && o.Uid == uid) == true;

    private static async IAsyncEnumerable<(WatchEventType Type, JsonObject Item)> Stream<T>(IAsyncEnumerable<(WatchEventType, T)> events)
    {
        await foreach (var (type, item) in events.ConfigureAwait(false))
        {
            yield return (type, ToJson(item!));
        }
    }
}
