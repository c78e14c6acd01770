using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>The workload controllers and the garbage collector, run as one reconcile pass over the store.</summary>
public sealed partial class Controllers
{
    public const string RevisionAnnotation = "deployment.kubernetes.io/revision";
    public const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
    public const string DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
    public const string MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
    public const string PodTemplateHashLabel = "pod-template-hash";
    public const string ControllerRevisionHashLabel = "controller-revision-hash";
    private const int RevisionHistoryLimitInChars = 2000;

    private static readonly HashSet<string> AnnotationsNotCopied = new(StringComparer.Ordinal)
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        RevisionAnnotation,
        RevisionHistoryAnnotation,
        DesiredReplicasAnnotation,
        MaxReplicasAnnotation,
        "deprecated.deployment.rollback.to",
    };

    private readonly ObjectStore store;
    private readonly EventRecorder events;
    private readonly Kubelet kubelet;
    private readonly FakeKubeOptions options;

    public Controllers(ObjectStore store, EventRecorder events, Kubelet kubelet, FakeKubeOptions options)
    {
        this.store = store;
        this.events = events;
        this.kubelet = kubelet;
        this.options = options;
    }

    public void RunOnce()
    {
        var now = DateTimeOffset.UtcNow;
        Step(CollectGarbage);
        foreach (var d in store.List(Catalog.Deployments).Items)
        {
            Step(() => SyncDeployment(d, now));
        }

        foreach (var rs in store.List(Catalog.ReplicaSets).Items)
        {
            Step(() => SyncReplicaSet(rs, now));
        }

        foreach (var sts in store.List(Catalog.StatefulSets).Items)
        {
            Step(() => SyncStatefulSet(sts, now));
        }

        foreach (var ds in store.List(Catalog.DaemonSets).Items)
        {
            Step(() => SyncDaemonSet(ds, now));
        }

        Step(() => kubelet.Sync(now));
    }

    private static void Step(Action action)
    {
        try
        {
            action();
        }
        catch (ApiException)
        {
            // Something changed under the controller (deleted, renamed): the next pass starts from the new state.
        }
    }

    // ---------------- shared helpers ----------------

    private static JsonObject ControllerRef(JsonObject owner) => new()
    {
        ["apiVersion"] = owner.Str("apiVersion"),
        ["kind"] = owner.Str("kind"),
        ["name"] = owner.Name(),
        ["uid"] = owner.Uid(),
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    };

    private static bool IsControlledBy(JsonObject obj, JsonObject owner) =>
        (Json.Walk(obj, "metadata", "ownerReferences") as JsonArray ?? new JsonArray()).OfType<JsonObject>()
            .Any(r => r.Bool("controller") == true && r.Str("uid") == owner.Uid());

    private List<JsonObject> Owned(ResourceType type, JsonObject owner) =>
        store.List(type, owner.Namespace(), o => IsControlledBy(o, owner));

    private static long Replicas(JsonObject obj) => obj.Long("spec", "replicas") ?? 1;

    private static long StatusInt(JsonObject obj, string field) => obj.Long("status", field) ?? 0;

    private static long Revision(JsonObject rs) =>
        long.TryParse(Json.StringMap(Json.Walk(rs, "metadata", "annotations")).GetValueOrDefault(RevisionAnnotation), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : 0;

    private static bool Terminating(JsonObject obj) => obj.Str("metadata", "deletionTimestamp") is not null;

    private static bool PodReady(JsonObject pod) =>
        (Json.Walk(pod, "status", "conditions") as JsonArray ?? new JsonArray()).OfType<JsonObject>()
            .Any(c => c.Str("type") == "Ready" && c.Str("status") == "True");

    private static bool PodAvailable(JsonObject pod, long minReadySeconds, DateTimeOffset now)
    {
        if (!PodReady(pod))
        {
            return false;
        }

        if (minReadySeconds <= 0)
        {
            return true;
        }

        var since = (Json.Walk(pod, "status", "conditions") as JsonArray)!.OfType<JsonObject>().First(c => c.Str("type") == "Ready").Str("lastTransitionTime");
        return Json.ParseTime(since) is { } at && at.AddSeconds(minReadySeconds) <= now;
    }

    private static bool PodActive(JsonObject pod) =>
        !Terminating(pod) && pod.Str("status", "phase") is not ("Succeeded" or "Failed");

    private static JsonObject TemplateWithoutHash(JsonNode? template)
    {
        var copy = template?.DeepClone() as JsonObject ?? new JsonObject();
        if (Json.Walk(copy, "metadata", "labels") is JsonObject labels)
        {
            labels.Remove(PodTemplateHashLabel);
            if (labels.Count == 0)
            {
                ((JsonObject)copy["metadata"]!).Remove("labels");
            }
        }

        return copy;
    }

    private static string ComputeHash(JsonNode? template, long? collisionCount)
    {
        var text = Json.GoJson(TemplateWithoutHash(template)) + (collisionCount is { } c ? c.ToString(CultureInfo.InvariantCulture) : "");
        return Json.SafeEncode(Json.Fnv1a(Encoding.UTF8.GetBytes(text)).ToString(CultureInfo.InvariantCulture));
    }

    private JsonObject NewPod(JsonObject owner, JsonObject template, string name, Action<JsonObject>? adjust = null)
    {
        var meta = new JsonObject { ["name"] = name, ["namespace"] = owner.Namespace() };
        if (Json.Walk(template, "metadata", "labels") is JsonObject labels)
        {
            meta["labels"] = labels.DeepClone();
        }

        if (Json.Walk(template, "metadata", "annotations") is JsonObject annotations)
        {
            meta["annotations"] = annotations.DeepClone();
        }

        meta["ownerReferences"] = new JsonArray(ControllerRef(owner));
        var pod = new JsonObject
        {
            ["kind"] = "Pod",
            ["apiVersion"] = "v1",
            ["metadata"] = meta,
            ["spec"] = template["spec"]?.DeepClone() ?? new JsonObject(),
        };
        adjust?.Invoke(pod);
        Defaults.PrepareForCreate(Catalog.Pods, pod);
        Defaults.Apply(Catalog.Pods, pod);
        return store.Create(Catalog.Pods, pod);
    }

    // ---------------- garbage collector ----------------

    private void CollectGarbage()
    {
        // Only orphans are cloned: cloning every object on every pass made the fake's cost grow with the cluster's size.
        foreach (var (type, obj) in store.Orphans())
        {
            if (type == Catalog.Pods)
            {
                if (!Terminating(obj))
                {
                    kubelet.DeletePod(obj.Namespace() ?? "default", obj.Name());
                }
            }
            else
            {
                store.Delete(type, obj.Namespace(), obj.Name());
            }
        }
    }

    // ---------------- ReplicaSet ----------------

    private void SyncReplicaSet(JsonObject rs, DateTimeOffset now)
    {
        if (Terminating(rs))
        {
            return;
        }

        var ns = rs.Namespace() ?? "default";
        var pods = Owned(Catalog.Pods, rs);
        var active = pods.Where(PodActive).ToList();
        var wanted = Replicas(rs);
        var template = rs["spec"]?["template"] as JsonObject ?? new JsonObject();
        if (active.Count < wanted)
        {
            for (var i = active.Count; i < wanted; i++)
            {
                var pod = NewPod(rs, template, rs.Name() + "-" + Json.RandomSuffix());
                events.Record(rs, "Normal", "SuccessfulCreate", "Created pod: " + pod.Name(), "replicaset-controller");
                active.Add(pod);
            }
        }
        else if (active.Count > wanted)
        {
            var victims = active
                .OrderBy(p => p.Str("spec", "nodeName") is null ? 0 : 1)
                .ThenBy(p => p.Str("status", "phase") switch { "Pending" => 0, "Unknown" => 1, _ => 2 })
                .ThenBy(p => PodReady(p) ? 1 : 0)
                .ThenByDescending(p => p.Str("metadata", "creationTimestamp"), StringComparer.Ordinal)
                .Take((int)(active.Count - wanted))
                .ToList();
            foreach (var pod in victims)
            {
                kubelet.DeletePod(ns, pod.Name());
                events.Record(rs, "Normal", "SuccessfulDelete", "Deleted pod: " + pod.Name(), "replicaset-controller");
                active.Remove(pod);
            }
        }

        var minReady = rs.Long("spec", "minReadySeconds") ?? 0;
        var templateLabels = Json.StringMap(Json.Walk(template, "metadata", "labels"));
        var status = new JsonObject
        {
            ["replicas"] = active.Count,
        };
        var fullyLabeled = active.Count(p => templateLabels.All(l => Json.StringMap(Json.Walk(p, "metadata", "labels")).GetValueOrDefault(l.Key) == l.Value));
        var ready = active.Count(PodReady);
        var available = active.Count(p => PodAvailable(p, minReady, now));
        if (fullyLabeled > 0)
        {
            status["fullyLabeledReplicas"] = fullyLabeled;
        }

        if (ready > 0)
        {
            status["readyReplicas"] = ready;
        }

        if (available > 0)
        {
            status["availableReplicas"] = available;
        }

        status["observedGeneration"] = rs.Long("metadata", "generation") ?? 1;
        if (!Json.Same(status, rs["status"]))
        {
            store.Mutate(Catalog.ReplicaSets, ns, rs.Name(), r =>
            {
                r["status"] = status.DeepClone();
                return true;
            });
        }
    }

    // ---------------- Deployment ----------------

    private static long ResolvePercent(JsonNode? value, long total, bool roundUp)
    {
        if (value is null)
        {
            return 0;
        }

        if (value is JsonValue v && v.TryGetValue<string>(out var text))
        {
            if (text.EndsWith('%') && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent))
            {
                var exact = percent * total / 100.0;
                return (long)(roundUp ? Math.Ceiling(exact) : Math.Floor(exact));
            }

            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        }

        return value.Long() ?? 0;
    }

    private static (long MaxSurge, long MaxUnavailable) Fenceposts(JsonObject d)
    {
        if (d.Str("spec", "strategy", "type") != "RollingUpdate")
        {
            return (0, 0);
        }

        var replicas = Replicas(d);
        var rolling = Json.Walk(d, "spec", "strategy", "rollingUpdate") as JsonObject;
        var surge = ResolvePercent(rolling?["maxSurge"], replicas, roundUp: true);
        var unavailable = ResolvePercent(rolling?["maxUnavailable"], replicas, roundUp: false);
        if (surge == 0 && unavailable == 0)
        {
            unavailable = 1;
        }

        return (surge, unavailable);
    }

    private static long MaxUnavailable(JsonObject d)
    {
        if (d.Str("spec", "strategy", "type") != "RollingUpdate" || Replicas(d) == 0)
        {
            return 0;
        }

        var (_, unavailable) = Fenceposts(d);
        return Math.Min(unavailable, Replicas(d));
    }

    private static bool HasProgressDeadline(JsonObject d) =>
        d.Long("spec", "progressDeadlineSeconds") is { } p && p != int.MaxValue;

    private static JsonObject? Condition(JsonObject status, string type) =>
        (status["conditions"] as JsonArray ?? new JsonArray()).OfType<JsonObject>().FirstOrDefault(c => c.Str("type") == type);

    private static JsonObject NewCondition(string type, string status, string reason, string message, DateTimeOffset now) => new()
    {
        ["type"] = type,
        ["status"] = status,
        ["lastUpdateTime"] = Json.Time(now),
        ["lastTransitionTime"] = Json.Time(now),
        ["reason"] = reason,
        ["message"] = message,
    };

    /// <summary>deploymentutil.SetDeploymentCondition: no change for the same status and reason; keeps lastTransitionTime for the same status.</summary>
    private static void SetCondition(JsonObject status, JsonObject condition)
    {
        var current = Condition(status, condition.Str("type")!);
        if (current is not null && current.Str("status") == condition.Str("status") && current.Str("reason") == condition.Str("reason"))
        {
            return;
        }

        if (current is not null && current.Str("status") == condition.Str("status"))
        {
            condition["lastTransitionTime"] = current["lastTransitionTime"]?.DeepClone();
        }

        RemoveCondition(status, condition.Str("type")!);
        status.Arr("conditions").Add(condition);
    }

    private static void RemoveCondition(JsonObject status, string type)
    {
        if (status["conditions"] is JsonArray conditions)
        {
            foreach (var c in conditions.OfType<JsonObject>().Where(c => c.Str("type") == type).ToList())
            {
                conditions.Remove(c);
            }

            if (conditions.Count == 0)
            {
                status.Remove("conditions");
            }
        }
    }

    /// <summary>Writes the deployment's annotations and status (as the controller's UpdateStatus does: no generation bump).</summary>
    private JsonObject WriteDeploymentStatus(JsonObject d) =>
        store.Mutate(Catalog.Deployments, d.Namespace(), d.Name(), current =>
        {
            var changed = false;
            if (!Json.Same(current["status"], d["status"]))
            {
                current["status"] = d["status"]?.DeepClone();
                changed = true;
            }

            var annotations = Json.Walk(d, "metadata", "annotations");
            if (!Json.Same(Json.Walk(current, "metadata", "annotations"), annotations))
            {
                current.Meta()["annotations"] = annotations?.DeepClone();
                changed = true;
            }

            return changed;
        }, WriteMode.Status) ?? throw ApiException.NotFound(Catalog.Deployments, d.Name());

    private void SyncDeployment(JsonObject d, DateTimeOffset now)
    {
        if (Terminating(d))
        {
            return;
        }

        var rsList = Owned(Catalog.ReplicaSets, d).Where(rs => !Terminating(rs))
            .OrderBy(rs => rs.Str("metadata", "creationTimestamp"), StringComparer.Ordinal).ThenBy(rs => rs.Name(), StringComparer.Ordinal).ToList();

        // checkPausedConditions
        if (HasProgressDeadline(d))
        {
            var status = d.Obj("status");
            var cond = Condition(status, "Progressing");
            var paused = d.Bool("spec", "paused") == true;
            var pausedCondExists = cond?.Str("reason") == "DeploymentPaused";
            if (paused && !pausedCondExists)
            {
                SetCondition(status, NewCondition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now));
                d = WriteDeploymentStatus(d);
            }
            else if (!paused && pausedCondExists)
            {
                SetCondition(status, NewCondition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now));
                d = WriteDeploymentStatus(d);
            }
        }

        var template = d["spec"]?["template"];
        var newRs = rsList.FirstOrDefault(rs => Json.Same(TemplateWithoutHash(rs["spec"]?["template"]), TemplateWithoutHash(template)));
        var oldRss = rsList.Where(rs => rs != newRs).ToList();

        if (d.Bool("spec", "paused") == true)
        {
            if (newRs is not null)
            {
                (d, newRs) = SyncRevision(d, newRs, oldRss, now);
                if (oldRss.All(rs => Replicas(rs) == 0) && Replicas(newRs) != Replicas(d))
                {
                    newRs = ScaleReplicaSet(newRs, Replicas(d), d);
                }
            }

            CleanupDeployment(d, oldRss);
            SyncDeploymentStatus(d, newRs is null ? oldRss : oldRss.Append(newRs).ToList(), newRs);
            return;
        }

        var recreate = d.Str("spec", "strategy", "type") == "Recreate";
        if (recreate)
        {
            var scaledDown = false;
            foreach (var rs in oldRss.ToList())
            {
                if (Replicas(rs) != 0)
                {
                    var scaled = ScaleReplicaSet(rs, 0, d);
                    oldRss[oldRss.IndexOf(rs)] = scaled;
                    scaledDown = true;
                }
            }

            if (scaledDown)
            {
                SyncRolloutStatus(d, oldRss.Concat(newRs is null ? [] : [newRs]).ToList(), newRs, now);
                return;
            }

            var oldPodsRunning = oldRss.Any(rs => Owned(Catalog.Pods, rs).Count > 0);
            if (oldPodsRunning)
            {
                SyncRolloutStatus(d, oldRss.Concat(newRs is null ? [] : [newRs]).ToList(), newRs, now);
                return;
            }
        }

        (d, newRs) = GetNewReplicaSet(d, newRs, oldRss, now);
        var all = oldRss.Append(newRs).ToList();
        if (recreate)
        {
            if (Replicas(newRs) != Replicas(d))
            {
                newRs = ScaleReplicaSet(newRs, Replicas(d), d);
                all = oldRss.Append(newRs).ToList();
            }
        }
        else
        {
            // reconcileNewReplicaSet
            var desired = Replicas(d);
            if (Replicas(newRs) != desired)
            {
                var target = Replicas(newRs) > desired ? desired : NewReplicaSetReplicas(d, all, newRs);
                if (target != Replicas(newRs))
                {
                    newRs = ScaleReplicaSet(newRs, target, d);
                    all = oldRss.Append(newRs).ToList();
                    SyncRolloutStatus(d, all, newRs, now);
                    return;
                }
            }

            if (ReconcileOldReplicaSets(d, oldRss, newRs))
            {
                SyncRolloutStatus(d, oldRss.Append(newRs).ToList(), newRs, now);
                return;
            }
        }

        if (DeploymentComplete(d, d["status"] as JsonObject ?? new JsonObject()))
        {
            CleanupDeployment(d, oldRss);
        }

        SyncRolloutStatus(d, all, newRs, now);
    }

    private static long NewReplicaSetReplicas(JsonObject d, List<JsonObject> all, JsonObject newRs)
    {
        if (d.Str("spec", "strategy", "type") == "Recreate")
        {
            return Replicas(d);
        }

        var (maxSurge, _) = Fenceposts(d);
        var current = all.Sum(Replicas);
        var maxTotal = Replicas(d) + maxSurge;
        if (current >= maxTotal)
        {
            return Replicas(newRs);
        }

        var scaleUp = Math.Min(maxTotal - current, Replicas(d) - Replicas(newRs));
        return Replicas(newRs) + scaleUp;
    }

    private bool ReconcileOldReplicaSets(JsonObject d, List<JsonObject> oldRss, JsonObject newRs)
    {
        var oldPods = oldRss.Sum(Replicas);
        if (oldPods == 0)
        {
            return false;
        }

        var allPods = oldPods + Replicas(newRs);
        var minAvailable = Replicas(d) - MaxUnavailable(d);
        var newUnavailable = Replicas(newRs) - StatusInt(newRs, "availableReplicas");
        var maxScaledDown = allPods - minAvailable - newUnavailable;
        if (maxScaledDown <= 0)
        {
            return false;
        }

        // cleanupUnhealthyReplicas
        long cleaned = 0;
        for (var i = 0; i < oldRss.Count; i++)
        {
            var rs = oldRss[i];
            if (cleaned >= maxScaledDown)
            {
                break;
            }

            if (Replicas(rs) == 0)
            {
                continue;
            }

            var unhealthy = Replicas(rs) - StatusInt(rs, "availableReplicas");
            if (unhealthy <= 0)
            {
                continue;
            }

            var count = Math.Min(maxScaledDown - cleaned, unhealthy);
            oldRss[i] = ScaleReplicaSet(rs, Replicas(rs) - count, d);
            cleaned += count;
        }

        // scaleDownOldReplicaSetsForRollingUpdate
        var availablePods = oldRss.Sum(rs => StatusInt(rs, "availableReplicas")) + StatusInt(newRs, "availableReplicas");
        long scaledDown = 0;
        if (availablePods > minAvailable)
        {
            var total = availablePods - minAvailable;
            for (var i = 0; i < oldRss.Count; i++)
            {
                var rs = oldRss[i];
                if (scaledDown >= total)
                {
                    break;
                }

                if (Replicas(rs) == 0)
                {
                    continue;
                }

                var count = Math.Min(Replicas(rs), total - scaledDown);
                oldRss[i] = ScaleReplicaSet(rs, Replicas(rs) - count, d);
                scaledDown += count;
            }
        }

        return cleaned + scaledDown > 0;
    }

    private JsonObject ScaleReplicaSet(JsonObject rs, long replicas, JsonObject d)
    {
        var from = Replicas(rs);
        var (maxSurge, _) = Fenceposts(d);
        var desired = Replicas(d).ToString(CultureInfo.InvariantCulture);
        var max = (Replicas(d) + maxSurge).ToString(CultureInfo.InvariantCulture);
        var updated = store.Mutate(Catalog.ReplicaSets, rs.Namespace(), rs.Name(), r =>
        {
            var changed = false;
            if (Replicas(r) != replicas)
            {
                r.Obj("spec")["replicas"] = replicas;
                changed = true;
            }

            var annotations = r.Annotations();
            if (annotations.Str(DesiredReplicasAnnotation) != desired || annotations.Str(MaxReplicasAnnotation) != max)
            {
                annotations[DesiredReplicasAnnotation] = desired;
                annotations[MaxReplicasAnnotation] = max;
                changed = true;
            }

            return changed;
        }) ?? throw ApiException.NotFound(Catalog.ReplicaSets, rs.Name());
        if (from != replicas)
        {
            events.Record(d, "Normal", "ScalingReplicaSet", $"Scaled {(from < replicas ? "up" : "down")} replica set {rs.Name()} to {replicas} from {from}", "deployment-controller");
        }

        return updated;
    }

    /// <summary>deploymentutil.SetNewReplicaSetAnnotations: copies the deployment's annotations; sets (and keeps the history of) the revision.</summary>
    private static bool SetNewReplicaSetAnnotations(JsonObject d, JsonObject rs, long newRevision, bool exists)
    {
        var changed = false;
        var annotations = rs.Annotations();
        foreach (var (key, value) in Json.StringMap(Json.Walk(d, "metadata", "annotations")))
        {
            if (AnnotationsNotCopied.Contains(key) || annotations.Str(key) == value)
            {
                continue;
            }

            annotations[key] = value;
            changed = true;
        }

        var oldRevisionText = annotations.Str(RevisionAnnotation);
        var hadRevision = oldRevisionText is not null;
        long oldRevision = 0;
        if (hadRevision && !long.TryParse(oldRevisionText, NumberStyles.Integer, CultureInfo.InvariantCulture, out oldRevision))
        {
            return changed;
        }

        if (oldRevision < newRevision)
        {
            annotations[RevisionAnnotation] = newRevision.ToString(CultureInfo.InvariantCulture);
            changed = true;
            if (hadRevision)
            {
                var history = annotations.Str(RevisionHistoryAnnotation) ?? "";
                if (history.Length == 0)
                {
                    annotations[RevisionHistoryAnnotation] = oldRevisionText;
                }
                else
                {
                    var parts = history.Split(',').ToList();
                    var totalLength = history.Length + oldRevisionText!.Length + 1;
                    var start = 0;
                    while (totalLength > RevisionHistoryLimitInChars && start < parts.Count)
                    {
                        totalLength -= parts[start].Length + 1;
                        start++;
                    }

                    if (totalLength <= RevisionHistoryLimitInChars)
                    {
                        annotations[RevisionHistoryAnnotation] = string.Join(',', parts.Skip(start).Append(oldRevisionText));
                    }
                }
            }
        }

        if (!exists)
        {
            var (maxSurge, _) = Fenceposts(d);
            annotations[DesiredReplicasAnnotation] = Replicas(d).ToString(CultureInfo.InvariantCulture);
            annotations[MaxReplicasAnnotation] = (Replicas(d) + maxSurge).ToString(CultureInfo.InvariantCulture);
            changed = true;
        }

        return changed;
    }

    private static bool SetDeploymentRevision(JsonObject d, string revision)
    {
        var annotations = d.Annotations();
        if (annotations.Str(RevisionAnnotation) == revision)
        {
            return false;
        }

        annotations[RevisionAnnotation] = revision;
        return true;
    }

    /// <summary>The existing new ReplicaSet: its revision becomes max(old)+1 (a rollback re-uses it), annotations follow the deployment.</summary>
    private (JsonObject Deployment, JsonObject NewReplicaSet) SyncRevision(JsonObject d, JsonObject newRs, List<JsonObject> oldRss, DateTimeOffset now)
    {
        var newRevision = (oldRss.Count == 0 ? 0 : oldRss.Max(Revision)) + 1;
        var minReady = d.Long("spec", "minReadySeconds") ?? 0;
        newRs = store.Mutate(Catalog.ReplicaSets, newRs.Namespace(), newRs.Name(), r =>
        {
            var changed = SetNewReplicaSetAnnotations(d, r, newRevision, exists: true);
            if ((r.Long("spec", "minReadySeconds") ?? 0) != minReady)
            {
                r.Obj("spec")["minReadySeconds"] = minReady;
                changed = true;
            }

            return changed;
        }) ?? throw ApiException.NotFound(Catalog.ReplicaSets, newRs.Name());

        var needsUpdate = SetDeploymentRevision(d, newRs.Annotations().Str(RevisionAnnotation) ?? "");
        var status = d.Obj("status");
        if (HasProgressDeadline(d) && Condition(status, "Progressing") is null)
        {
            SetCondition(status, NewCondition("Progressing", "True", "FoundNewReplicaSet", $"Found new replica set \"{newRs.Name()}\"", now));
            needsUpdate = true;
        }

        if (needsUpdate)
        {
            d = WriteDeploymentStatus(d);
        }

        return (d, newRs);
    }

    private (JsonObject Deployment, JsonObject NewReplicaSet) GetNewReplicaSet(JsonObject d, JsonObject? existing, List<JsonObject> oldRss, DateTimeOffset now)
    {
        if (existing is not null)
        {
            return SyncRevision(d, existing, oldRss, now);
        }

        var newRevision = (oldRss.Count == 0 ? 0 : oldRss.Max(Revision)) + 1;
        var template = (JsonObject)(d["spec"]!["template"]!.DeepClone());
        var collisions = d.Long("status", "collisionCount");
        while (true)
        {
            var hash = ComputeHash(template, collisions);
            var name = d.Name() + "-" + hash;
            var rsTemplate = template.Clone();
            rsTemplate.Obj("metadata").Obj("labels")[PodTemplateHashLabel] = hash;
            var selector = (JsonObject)(d["spec"]!["selector"]!.DeepClone());
            selector.Obj("matchLabels")[PodTemplateHashLabel] = hash;
            var labels = (Json.Walk(template, "metadata", "labels") as JsonObject)?.Clone() ?? new JsonObject();
            labels[PodTemplateHashLabel] = hash;
            var rs = new JsonObject
            {
                ["kind"] = "ReplicaSet",
                ["apiVersion"] = "apps/v1",
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["namespace"] = d.Namespace(),
                    ["labels"] = labels,
                    ["annotations"] = new JsonObject(),
                    ["ownerReferences"] = new JsonArray(ControllerRef(d)),
                },
                ["spec"] = new JsonObject
                {
                    ["replicas"] = 0,
                    ["minReadySeconds"] = d.Long("spec", "minReadySeconds") ?? 0,
                    ["selector"] = selector,
                    ["template"] = rsTemplate,
                },
            };
            var replicas = NewReplicaSetReplicas(d, oldRss.Append(rs).ToList(), rs);
            rs["spec"]!["replicas"] = replicas;
            SetNewReplicaSetAnnotations(d, rs, newRevision, exists: false);
            Defaults.PrepareForCreate(Catalog.ReplicaSets, rs);
            Defaults.Apply(Catalog.ReplicaSets, rs);
            JsonObject created;
            try
            {
                created = store.Create(Catalog.ReplicaSets, rs);
            }
            catch (ApiException e) when (e.Reason == "AlreadyExists")
            {
                var clash = store.Get(Catalog.ReplicaSets, d.Namespace(), name);
                if (clash is not null && IsControlledBy(clash, d) && Json.Same(TemplateWithoutHash(clash["spec"]?["template"]), TemplateWithoutHash(template)))
                {
                    return SyncRevision(d, clash, oldRss, now);
                }

                collisions = (collisions ?? 0) + 1;
                d.Obj("status")["collisionCount"] = collisions;
                continue;
            }

            if (replicas > 0)
            {
                events.Record(d, "Normal", "ScalingReplicaSet", $"Scaled up replica set {name} to {replicas} from 0", "deployment-controller");
            }

            SetDeploymentRevision(d, newRevision.ToString(CultureInfo.InvariantCulture));
            if (HasProgressDeadline(d))
            {
                SetCondition(d.Obj("status"), NewCondition("Progressing", "True", "NewReplicaSetCreated", $"Created new replica set \"{name}\"", now));
            }

            d = WriteDeploymentStatus(d);
            return (d, created);
        }
    }

    private void CleanupDeployment(JsonObject d, List<JsonObject> oldRss)
    {
        if (d.Long("spec", "revisionHistoryLimit") is not { } limit)
        {
            return;
        }

        var cleanable = oldRss.Where(rs => !Terminating(rs)).ToList();
        var diff = cleanable.Count - (int)limit;
        if (diff <= 0)
        {
            return;
        }

        foreach (var rs in cleanable.OrderBy(Revision).ThenBy(rs => rs.Str("metadata", "creationTimestamp"), StringComparer.Ordinal).Take(diff))
        {
            if (StatusInt(rs, "replicas") != 0 || Replicas(rs) != 0 || (rs.Long("metadata", "generation") ?? 0) > StatusInt(rs, "observedGeneration"))
            {
                continue;
            }

            store.Delete(Catalog.ReplicaSets, rs.Namespace(), rs.Name());
        }
    }

    private static bool DeploymentComplete(JsonObject d, JsonObject status) =>
        (status.Long("updatedReplicas") ?? 0) == Replicas(d)
        && (status.Long("replicas") ?? 0) == Replicas(d)
        && (status.Long("availableReplicas") ?? 0) == Replicas(d)
        && (status.Long("observedGeneration") ?? 0) >= (d.Long("metadata", "generation") ?? 0);

    private static JsonObject CalculateStatus(JsonObject d, List<JsonObject> all, JsonObject? newRs, DateTimeOffset now)
    {
        var available = all.Sum(rs => StatusInt(rs, "availableReplicas"));
        var total = all.Sum(Replicas);
        var unavailable = Math.Max(0, total - available);
        var status = new JsonObject();
        void Put(string key, long value)
        {
            if (value != 0)
            {
                status[key] = value;
            }
        }

        Put("observedGeneration", d.Long("metadata", "generation") ?? 0);
        Put("replicas", all.Sum(rs => StatusInt(rs, "replicas")));
        Put("updatedReplicas", newRs is null ? 0 : StatusInt(newRs, "replicas"));
        Put("readyReplicas", all.Sum(rs => StatusInt(rs, "readyReplicas")));
        Put("availableReplicas", available);
        Put("unavailableReplicas", unavailable);
        if (Json.Walk(d, "status", "conditions") is JsonArray conditions)
        {
            status["conditions"] = conditions.DeepClone();
        }

        if (d.Long("status", "collisionCount") is { } collisions)
        {
            status["collisionCount"] = collisions;
        }

        if (available >= Replicas(d) - MaxUnavailable(d))
        {
            SetCondition(status, NewCondition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now));
        }
        else
        {
            SetCondition(status, NewCondition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now));
        }

        return status;
    }

    private void SyncDeploymentStatus(JsonObject d, List<JsonObject> all, JsonObject? newRs)
    {
        var status = CalculateStatus(d, all, newRs, DateTimeOffset.UtcNow);
        if (!Json.Same(status, d["status"]))
        {
            d["status"] = status;
            WriteDeploymentStatus(d);
        }
    }

    private void SyncRolloutStatus(JsonObject d, List<JsonObject> all, JsonObject? newRs, DateTimeOffset now)
    {
        var oldStatus = d["status"] as JsonObject ?? new JsonObject();
        var newStatus = CalculateStatus(d, all, newRs, now);
        if (!HasProgressDeadline(d))
        {
            RemoveCondition(newStatus, "Progressing");
        }

        var current = Condition(newStatus, "Progressing");
        var isComplete = (newStatus.Long("replicas") ?? 0) == (newStatus.Long("updatedReplicas") ?? 0) && current?.Str("reason") == "NewReplicaSetAvailable";
        if (HasProgressDeadline(d) && !isComplete)
        {
            if (DeploymentComplete(d, newStatus))
            {
                var message = newRs is null ? $"Deployment \"{d.Name()}\" has successfully progressed." : $"ReplicaSet \"{newRs.Name()}\" has successfully progressed.";
                SetCondition(newStatus, NewCondition("Progressing", "True", "NewReplicaSetAvailable", message, now));
            }
            else if (Progressing(oldStatus, newStatus))
            {
                var message = newRs is null ? $"Deployment \"{d.Name()}\" is progressing." : $"ReplicaSet \"{newRs.Name()}\" is progressing.";
                var condition = NewCondition("Progressing", "True", "ReplicaSetUpdated", message, now);
                if (current is not null)
                {
                    if (current.Str("status") == "True")
                    {
                        condition["lastTransitionTime"] = current["lastTransitionTime"]?.DeepClone();
                    }

                    RemoveCondition(newStatus, "Progressing");
                }

                SetCondition(newStatus, condition);
            }
            else if (TimedOut(d, newStatus, now))
            {
                var message = newRs is null ? $"Deployment \"{d.Name()}\" has timed out progressing." : $"ReplicaSet \"{newRs.Name()}\" has timed out progressing.";
                SetCondition(newStatus, NewCondition("Progressing", "False", "ProgressDeadlineExceeded", message, now));
            }
        }

        if (!Json.Same(newStatus, d["status"]))
        {
            d["status"] = newStatus;
            WriteDeploymentStatus(d);
        }
    }

    private static bool Progressing(JsonObject oldStatus, JsonObject newStatus)
    {
        long Get(JsonObject s, string key) => s.Long(key) ?? 0;
        var oldOld = Get(oldStatus, "replicas") - Get(oldStatus, "updatedReplicas");
        var newOld = Get(newStatus, "replicas") - Get(newStatus, "updatedReplicas");
        return Get(newStatus, "updatedReplicas") > Get(oldStatus, "updatedReplicas")
            || newOld < oldOld
            || Get(newStatus, "readyReplicas") > Get(oldStatus, "readyReplicas")
            || Get(newStatus, "availableReplicas") > Get(oldStatus, "availableReplicas");
    }

    private static bool TimedOut(JsonObject d, JsonObject status, DateTimeOffset now)
    {
        var condition = Condition(status, "Progressing");
        if (condition is null || condition.Str("reason") == "NewReplicaSetAvailable")
        {
            return false;
        }

        if (condition.Str("reason") == "ProgressDeadlineExceeded")
        {
            return true;
        }

        var from = Json.ParseTime(condition.Str("lastUpdateTime"));
        return from is not null && from.Value.AddSeconds(d.Long("spec", "progressDeadlineSeconds") ?? 600) < now;
    }
}
