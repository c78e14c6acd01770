using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>StatefulSet and DaemonSet controllers, with ControllerRevision history as the real ones keep it.</summary>
public sealed partial class Controllers
{
    public const string HistoryHashLabel = "controller.kubernetes.io/hash";

    /// <summary>The patch the controllers store in ControllerRevision.data: spec.template with $patch=replace, keys sorted as Go writes a map.</summary>
    public static string RevisionData(JsonObject set)
    {
        var template = (JsonObject)(set["spec"]?["template"]?.DeepClone() ?? new JsonObject());
        template["$patch"] = "replace";
        return Json.GoJson(new JsonObject { ["spec"] = new JsonObject { ["template"] = template } });
    }

    private static long RevisionNumber(JsonObject cr) => cr.Long("revision") ?? 0;

    private static JsonObject TemplateOf(JsonObject cr)
    {
        var template = (JsonObject)(Json.Walk(cr, "data", "spec", "template")?.DeepClone() ?? new JsonObject());
        template.Remove("$patch");
        return template;
    }

    /// <summary>Finds or makes the update revision; an equal older revision is re-used with the next revision number (a rollback).</summary>
    private (JsonObject Update, List<JsonObject> Revisions) SyncRevisions(JsonObject set, bool statefulSet)
    {
        var revisions = Owned(Catalog.ControllerRevisions, set).OrderBy(RevisionNumber).ThenBy(r => r.Name(), StringComparer.Ordinal).ToList();
        var data = RevisionData(set);
        var dataNode = JsonNode.Parse(data);
        var equal = revisions.Where(r => Json.Same(r["data"], dataNode)).ToList();
        var max = revisions.Count == 0 ? 0 : revisions.Max(RevisionNumber);
        if (equal.Count > 0 && revisions[^1].Name() == equal[^1].Name())
        {
            return (equal[^1], revisions);
        }

        if (equal.Count > 0)
        {
            var bumped = store.Mutate(Catalog.ControllerRevisions, set.Namespace(), equal[^1].Name(), r =>
            {
                r["revision"] = max + 1;
                return true;
            }) ?? throw ApiException.NotFound(Catalog.ControllerRevisions, equal[^1].Name());
            revisions = revisions.Select(r => r.Name() == bumped.Name() ? bumped : r).OrderBy(RevisionNumber).ToList();
            return (bumped, revisions);
        }

        var collisions = set.Long("status", "collisionCount") ?? 0;
        while (true)
        {
            var probe = statefulSet || collisions > 0 ? collisions.ToString(CultureInfo.InvariantCulture) : "";
            var hash = Json.SafeEncode(Json.Fnv1(Encoding.UTF8.GetBytes(data + probe)).ToString(CultureInfo.InvariantCulture));
            var labels = (Json.Walk(set, "spec", "template", "metadata", "labels") as JsonObject)?.Clone() ?? new JsonObject();
            labels[statefulSet ? HistoryHashLabel : ControllerRevisionHashLabel] = hash;
            var meta = new JsonObject
            {
                ["name"] = set.Name() + "-" + hash,
                ["namespace"] = set.Namespace(),
                ["labels"] = labels,
            };
            if (Json.Walk(set, "metadata", "annotations") is JsonObject annotations)
            {
                meta["annotations"] = annotations.DeepClone();
            }

            meta["ownerReferences"] = new JsonArray(ControllerRef(set));
            var cr = new JsonObject
            {
                ["kind"] = "ControllerRevision",
                ["apiVersion"] = "apps/v1",
                ["metadata"] = meta,
                ["data"] = dataNode!.DeepClone(),
                ["revision"] = max + 1,
            };
            try
            {
                var created = store.Create(Catalog.ControllerRevisions, cr);
                revisions.Add(created);
                return (created, revisions);
            }
            catch (ApiException e) when (e.Reason == "AlreadyExists")
            {
                collisions++;
                var type = statefulSet ? Catalog.StatefulSets : Catalog.DaemonSets;
                var c = collisions;
                store.Mutate(type, set.Namespace(), set.Name(), s =>
                {
                    s.Obj("status")["collisionCount"] = c;
                    return true;
                });
            }
        }
    }

    private void TruncateHistory(JsonObject set, List<JsonObject> revisions, IEnumerable<string> live)
    {
        var limit = set.Long("spec", "revisionHistoryLimit") ?? 10;
        var keep = live.ToHashSet(StringComparer.Ordinal);
        var history = revisions.Where(r => !keep.Contains(r.Name())).OrderBy(RevisionNumber).ToList();
        foreach (var r in history.Take(Math.Max(0, history.Count - (int)limit)))
        {
            store.Delete(Catalog.ControllerRevisions, r.Namespace(), r.Name());
        }
    }

    private static bool RunningAndReady(JsonObject pod) => pod.Str("status", "phase") == "Running" && PodReady(pod);

    // ---------------- StatefulSet ----------------

    private static int Ordinal(JsonObject set, JsonObject pod)
    {
        var name = pod.Name();
        var prefix = set.Name() + "-";
        return name.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(name[prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var ordinal) ? ordinal : -1;
    }

    private void SyncStatefulSet(JsonObject set, DateTimeOffset now)
    {
        if (Terminating(set))
        {
            return;
        }

        var ns = set.Namespace() ?? "default";
        var (update, revisions) = SyncRevisions(set, statefulSet: true);
        var currentName = set.Str("status", "currentRevision");
        var current = revisions.FirstOrDefault(r => r.Name() == currentName) ?? update;
        var replicas = (int)Replicas(set);
        var ordered = set.Str("spec", "podManagementPolicy") != "Parallel";
        var partition = (int)(set.Long("spec", "updateStrategy", "rollingUpdate", "partition") ?? 0);
        var pods = Owned(Catalog.Pods, set).Where(p => Ordinal(set, p) >= 0).ToDictionary(p => Ordinal(set, p));

        Manage();
        WriteStatus();
        TruncateHistory(set, revisions, new[] { current.Name(), update.Name() }.Concat(Owned(Catalog.Pods, set).Select(p => p.Labels().Str(ControllerRevisionHashLabel) ?? "")));

        void Manage()
        {
            for (var i = 0; i < replicas; i++)
            {
                pods.TryGetValue(i, out var pod);
                if (pod is null)
                {
                    var revision = i < partition ? current : update;
                    var template = revision.Name() == update.Name() ? (JsonObject)set["spec"]!["template"]!.DeepClone() : TemplateOf(revision);
                    var name = set.Name() + "-" + i.ToString(CultureInfo.InvariantCulture);
                    var ordinal = i;
                    NewPod(set, template, name, p =>
                    {
                        var labels = p.Labels();
                        labels[ControllerRevisionHashLabel] = revision.Name();
                        labels["statefulset.kubernetes.io/pod-name"] = name;
                        labels["apps.kubernetes.io/pod-index"] = ordinal.ToString(CultureInfo.InvariantCulture);
                        p.Obj("spec")["hostname"] = name;
                        if (set.Str("spec", "serviceName") is { Length: > 0 } service)
                        {
                            p.Obj("spec")["subdomain"] = service;
                        }
                    });
                    events.Record(set, "Normal", "SuccessfulCreate", $"create Pod {name} in StatefulSet {set.Name()} successful", "statefulset-controller");
                    if (ordered)
                    {
                        return;
                    }

                    continue;
                }

                if (pod.Str("status", "phase") == "Failed" && !Terminating(pod))
                {
                    kubelet.DeletePod(ns, pod.Name());
                    events.Record(set, "Normal", "SuccessfulDelete", $"delete Pod {pod.Name()} in StatefulSet {set.Name()} successful", "statefulset-controller");
                    if (ordered)
                    {
                        return;
                    }
                }

                if (ordered && (Terminating(pod) || !RunningAndReady(pod)))
                {
                    // OrderedReady: wait for this pod before touching the next (a broken pod blocks the set).
                    return;
                }
            }

            foreach (var condemned in pods.Where(p => p.Key >= replicas).OrderByDescending(p => p.Key).Select(p => p.Value))
            {
                if (Terminating(condemned))
                {
                    if (ordered)
                    {
                        return;
                    }

                    continue;
                }

                kubelet.DeletePod(ns, condemned.Name());
                events.Record(set, "Normal", "SuccessfulDelete", $"delete Pod {condemned.Name()} in StatefulSet {set.Name()} successful", "statefulset-controller");
                if (ordered)
                {
                    return;
                }
            }

            if (set.Str("spec", "updateStrategy", "type") != "RollingUpdate")
            {
                return;
            }

            for (var target = replicas - 1; target >= partition; target--)
            {
                if (!pods.TryGetValue(target, out var pod))
                {
                    return;
                }

                if (pod.Labels().Str(ControllerRevisionHashLabel) != update.Name() && !Terminating(pod))
                {
                    kubelet.DeletePod(ns, pod.Name());
                    events.Record(set, "Normal", "SuccessfulDelete", $"delete Pod {pod.Name()} in StatefulSet {set.Name()} successful", "statefulset-controller");
                    return;
                }

                if (!RunningAndReady(pod))
                {
                    return;
                }
            }
        }

        void WriteStatus()
        {
            var all = Owned(Catalog.Pods, set);
            var minReady = set.Long("spec", "minReadySeconds") ?? 0;
            var status = new JsonObject();
            var observed = set.Long("metadata", "generation") ?? 1;
            var count = all.Count;
            var ready = all.Count(p => !Terminating(p) && RunningAndReady(p));
            var available = all.Count(p => !Terminating(p) && RunningAndReady(p) && PodAvailable(p, minReady, now));
            var currentCount = all.Count(p => p.Labels().Str(ControllerRevisionHashLabel) == current.Name());
            var updated = all.Count(p => p.Labels().Str(ControllerRevisionHashLabel) == update.Name());
            var currentRevision = current.Name();
            if (updated == replicas && ready == replicas && count == replicas)
            {
                currentRevision = update.Name();
                currentCount = updated;
            }

            status["observedGeneration"] = observed;
            status["replicas"] = count;
            if (ready > 0)
            {
                status["readyReplicas"] = ready;
            }

            if (currentCount > 0)
            {
                status["currentReplicas"] = currentCount;
            }

            if (updated > 0)
            {
                status["updatedReplicas"] = updated;
            }

            status["currentRevision"] = currentRevision;
            status["updateRevision"] = update.Name();
            status["collisionCount"] = set.Long("status", "collisionCount") ?? 0;
            status["availableReplicas"] = available;
            if (!Json.Same(status, set["status"]))
            {
                store.Mutate(Catalog.StatefulSets, ns, set.Name(), s =>
                {
                    s["status"] = status.DeepClone();
                    return true;
                });
            }
        }
    }

    // ---------------- DaemonSet ----------------

    private void SyncDaemonSet(JsonObject ds, DateTimeOffset now)
    {
        if (Terminating(ds))
        {
            return;
        }

        var ns = ds.Namespace() ?? "default";
        var (update, revisions) = SyncRevisions(ds, statefulSet: false);
        var hash = update.Labels().Str(ControllerRevisionHashLabel) ?? "";
        var nodes = options.Nodes;
        var minReady = ds.Long("spec", "minReadySeconds") ?? 0;
        var active = Owned(Catalog.Pods, ds).Where(PodActive).ToList();
        foreach (var node in nodes)
        {
            var onNode = active.Where(p => p.Str("spec", "nodeName") == node).OrderBy(p => p.Str("metadata", "creationTimestamp"), StringComparer.Ordinal).ToList();
            if (onNode.Count == 0)
            {
                var generation = (ds.Long("metadata", "generation") ?? 1).ToString(CultureInfo.InvariantCulture);
                var pod = NewPod(ds, (JsonObject)ds["spec"]!["template"]!.DeepClone(), ds.Name() + "-" + Json.RandomSuffix(), p =>
                {
                    p.Labels()[ControllerRevisionHashLabel] = hash;
                    p.Labels()["pod-template-generation"] = generation;
                    p.Obj("spec")["nodeName"] = node;
                });
                events.Record(ds, "Normal", "SuccessfulCreate", "Created pod: " + pod.Name(), "daemonset-controller");
                active.Add(pod);
            }

            foreach (var extra in onNode.Skip(1))
            {
                kubelet.DeletePod(ns, extra.Name());
                events.Record(ds, "Normal", "SuccessfulDelete", "Deleted pod: " + extra.Name(), "daemonset-controller");
                active.Remove(extra);
            }
        }

        if (ds.Str("spec", "updateStrategy", "type") == "RollingUpdate")
        {
            var maxUnavailable = Math.Max(1, ResolvePercent(Json.Walk(ds, "spec", "updateStrategy", "rollingUpdate", "maxUnavailable"), nodes.Count, roundUp: true));
            var unavailable = nodes.Count(n => !active.Any(p => p.Str("spec", "nodeName") == n && PodAvailable(p, minReady, now)));
            var old = active.Where(p => p.Labels().Str(ControllerRevisionHashLabel) != hash).ToList();
            foreach (var pod in old.OrderBy(p => PodAvailable(p, minReady, now) ? 1 : 0))
            {
                var isAvailable = PodAvailable(pod, minReady, now);
                if (isAvailable && unavailable >= maxUnavailable)
                {
                    break;
                }

                kubelet.DeletePod(ns, pod.Name());
                events.Record(ds, "Normal", "SuccessfulDelete", "Deleted pod: " + pod.Name(), "daemonset-controller");
                if (isAvailable)
                {
                    unavailable++;
                }
            }
        }

        var pods = Owned(Catalog.Pods, ds).Where(PodActive).ToList();
        var scheduled = nodes.Count(n => pods.Any(p => p.Str("spec", "nodeName") == n));
        var ready = pods.Count(PodReady);
        var available = pods.Count(p => PodAvailable(p, minReady, now));
        var updated = pods.Count(p => p.Labels().Str(ControllerRevisionHashLabel) == hash);
        var status = new JsonObject
        {
            ["currentNumberScheduled"] = scheduled,
            ["numberMisscheduled"] = 0,
            ["desiredNumberScheduled"] = nodes.Count,
            ["numberReady"] = ready,
            ["observedGeneration"] = ds.Long("metadata", "generation") ?? 1,
        };
        if (updated > 0)
        {
            status["updatedNumberScheduled"] = updated;
        }

        if (available > 0)
        {
            status["numberAvailable"] = available;
        }

        if (nodes.Count - available > 0)
        {
            status["numberUnavailable"] = nodes.Count - available;
        }

        if (ds.Long("status", "collisionCount") is { } collisions)
        {
            status["collisionCount"] = collisions;
        }

        if (!Json.Same(status, ds["status"]))
        {
            store.Mutate(Catalog.DaemonSets, ns, ds.Name(), s =>
            {
                s["status"] = status.DeepClone();
                return true;
            });
        }

        TruncateHistory(ds, revisions, new[] { update.Name() }.Concat(Owned(Catalog.Pods, ds).Select(p => ds.Name() + "-" + (p.Labels().Str(ControllerRevisionHashLabel) ?? ""))));
    }
}
