using System.Globalization;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>The scheduler and kubelet of the fake nodes: binds pods, runs their containers by image behaviour, writes pod status, events and logs.</summary>
public sealed class Kubelet
{
    private readonly ObjectStore store;
    private readonly EventRecorder events;
    private readonly FakeKubeOptions options;
    private readonly ImageCatalog images;
    private readonly Dictionary<string, PodRun> runs = new(StringComparer.Ordinal);
    private int nextIp = 10;
    private int nextNode;

    public Kubelet(ObjectStore store, EventRecorder events, FakeKubeOptions options, ImageCatalog images)
    {
        this.store = store;
        this.events = events;
        this.options = options;
        this.images = images;
    }

    private sealed class ContainerRun
    {
        public required string Name { get; init; }
        public required string Image { get; init; }
        public required ImageBehaviour Behaviour { get; init; }
        public required DateTimeOffset StartAt { get; init; }
        public int EventsDone { get; set; }
        public int Crashes { get; set; }
        public int UnhealthyReported { get; set; }
    }

    private sealed class PodRun
    {
        public required string Uid { get; init; }
        public required string PodIp { get; init; }
        public required DateTimeOffset Created { get; init; }
        public DateTimeOffset? TerminatingSince { get; set; }
        public List<ContainerRun> Containers { get; } = new();
    }

    /// <summary>Marks a pod Terminating; it is removed after FakeKubeOptions.TerminationDelay (immediately when grace is 0).</summary>
    public JsonObject? DeletePod(string ns, string name, long? gracePeriodSeconds = null, string? expectedUid = null, string? expectedResourceVersion = null, bool dryRun = false)
    {
        var pod = store.Get(Catalog.Pods, ns, name);
        if (pod is null)
        {
            return null;
        }

        if ((!string.IsNullOrEmpty(expectedUid) && expectedUid != pod.Uid())
            || (!string.IsNullOrEmpty(expectedResourceVersion) && expectedResourceVersion != pod.Str("metadata", "resourceVersion")))
        {
            throw ApiException.Conflict(Catalog.Pods, name);
        }

        if (dryRun)
        {
            return pod;
        }

        if (gracePeriodSeconds == 0 || pod.Str("spec", "nodeName") is null)
        {
            return store.Delete(Catalog.Pods, ns, name);
        }

        return store.Mutate(Catalog.Pods, ns, name, p =>
        {
            if (p.Str("metadata", "deletionTimestamp") is not null)
            {
                return false;
            }

            var grace = gracePeriodSeconds ?? p.Long("spec", "terminationGracePeriodSeconds") ?? 30;
            p.Meta()["deletionTimestamp"] = Json.Time(DateTimeOffset.UtcNow.AddSeconds(grace));
            p.Meta()["deletionGracePeriodSeconds"] = grace;
            return true;
        });
    }

    public void Sync(DateTimeOffset now)
    {
        var (pods, _) = store.List(Catalog.Pods);
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pod in pods)
        {
            live.Add(pod.Uid());
            try
            {
                SyncPod(pod, now);
            }
            catch (ApiException)
            {
                // The pod changed or went away under us: the next pass sees the new state.
            }
        }

        lock (runs)
        {
            foreach (var gone in runs.Keys.Where(k => !live.Contains(k)).ToList())
            {
                runs.Remove(gone);
            }
        }
    }

    private void SyncPod(JsonObject pod, DateTimeOffset now)
    {
        var ns = pod.Namespace() ?? "default";
        var name = pod.Name();
        if (pod.Str("metadata", "deletionTimestamp") is not null)
        {
            var run0 = Run(pod, now);
            run0.TerminatingSince ??= now;
            // The fake kubelet stops the containers TerminationDelay after it sees the deletion.
            if (now - run0.TerminatingSince >= options.TerminationDelay || (pod.Long("metadata", "deletionGracePeriodSeconds") ?? 30) == 0)
            {
                if (pod["metadata"]?["finalizers"] is JsonArray { Count: > 0 })
                {
                    return;
                }

                store.Delete(Catalog.Pods, ns, name);
            }

            return;
        }

        var nodeName = pod.Str("spec", "nodeName");
        if (nodeName is null)
        {
            nodeName = options.Nodes[nextNode++ % options.Nodes.Count];
            var bound = store.Mutate(Catalog.Pods, ns, name, p =>
            {
                p.Obj("spec")["nodeName"] = nodeName;
                var conditions = p.Obj("status").Arr("conditions");
                conditions.Add(new JsonObject
                {
                    ["type"] = "PodScheduled",
                    ["status"] = "True",
                    ["lastProbeTime"] = null,
                    ["lastTransitionTime"] = Json.Time(now),
                });
                return true;
            });
            if (bound is null)
            {
                return;
            }

            events.Record(bound, "Normal", "Scheduled", $"Successfully assigned {ns}/{name} to {nodeName}", "default-scheduler");
            pod = bound;
        }

        var run = Run(pod, now);
        foreach (var c in run.Containers)
        {
            ContainerEvents(pod, nodeName, c, now);
        }

        var status = BuildStatus(pod, run, nodeName, now);
        if (!Json.Same(status, pod["status"]))
        {
            store.Mutate(Catalog.Pods, ns, name, p =>
            {
                p["status"] = status.DeepClone();
                return true;
            });
        }
    }

    private PodRun Run(JsonObject pod, DateTimeOffset now)
    {
        lock (runs)
        {
            if (runs.TryGetValue(pod.Uid(), out var run))
            {
                return run;
            }

            // Timestamps have second granularity: the kubelet counts from when it first sees the pod.
            run = new PodRun { Uid = pod.Uid(), PodIp = $"10.244.0.{nextIp++ % 250 + 2}", Created = now };
            foreach (var container in (Json.Walk(pod, "spec", "containers") as JsonArray ?? new JsonArray()).OfType<JsonObject>())
            {
                var image = container.Str("image") ?? "";
                var delay = images.ReadyDelayFor(image) ?? options.ReadyDelay;
                run.Containers.Add(new ContainerRun
                {
                    Name = container.Str("name") ?? "",
                    Image = image,
                    Behaviour = images.Resolve(image),
                    StartAt = now + delay,
                });
            }

            runs[pod.Uid()] = run;
            return run;
        }
    }

    private int CrashCount(ContainerRun c, DateTimeOffset now) =>
        now < c.StartAt ? 0 : 1 + (int)((now - c.StartAt).Ticks / Math.Max(1, options.CrashLoopInterval.Ticks));

    private void ContainerEvents(JsonObject pod, string node, ContainerRun c, DateTimeOffset now)
    {
        if (now < c.StartAt)
        {
            return;
        }

        var fieldPath = $"spec.containers{{{c.Name}}}";
        var podRef = $"{pod.Name()}_{pod.Namespace()}({pod.Uid()})";
        switch (c.Behaviour)
        {
            case ImageBehaviour.Ready:
            case ImageBehaviour.NeverReady:
                if (c.EventsDone == 0)
                {
                    c.EventsDone = 1;
                    events.Record(pod, "Normal", "Pulling", $"Pulling image \"{c.Image}\"", "kubelet", node, fieldPath);
                    events.Record(pod, "Normal", "Pulled", $"Successfully pulled image \"{c.Image}\" in 150ms (150ms including waiting). Image size: 4263124 bytes.", "kubelet", node, fieldPath);
                    events.Record(pod, "Normal", "Created", $"Created container {c.Name}", "kubelet", node, fieldPath);
                    events.Record(pod, "Normal", "Started", $"Started container {c.Name}", "kubelet", node, fieldPath);
                }

                if (c.Behaviour == ImageBehaviour.NeverReady)
                {
                    var due = 1 + (int)((now - c.StartAt).Ticks / Math.Max(1, options.CrashLoopInterval.Ticks));
                    while (c.UnhealthyReported < due)
                    {
                        c.UnhealthyReported++;
                        events.Record(pod, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet", node, fieldPath);
                    }
                }

                break;
            case ImageBehaviour.CrashLoop:
            {
                var crashes = CrashCount(c, now);
                if (c.EventsDone == 0)
                {
                    c.EventsDone = 1;
                    events.Record(pod, "Normal", "Pulling", $"Pulling image \"{c.Image}\"", "kubelet", node, fieldPath);
                    events.Record(pod, "Normal", "Pulled", $"Successfully pulled image \"{c.Image}\" in 150ms (150ms including waiting). Image size: 4263124 bytes.", "kubelet", node, fieldPath);
                }

                while (c.Crashes < crashes)
                {
                    c.Crashes++;
                    if (c.Crashes > 1)
                    {
                        events.Record(pod, "Normal", "Pulled", $"Container image \"{c.Image}\" already present on machine", "kubelet", node, fieldPath);
                    }

                    events.Record(pod, "Normal", "Created", $"Created container {c.Name}", "kubelet", node, fieldPath);
                    events.Record(pod, "Normal", "Started", $"Started container {c.Name}", "kubelet", node, fieldPath);
                    events.Record(pod, "Warning", "BackOff", $"Back-off restarting failed container {c.Name} in pod {podRef}", "kubelet", node, fieldPath);
                }

                break;
            }

            case ImageBehaviour.ImagePullError:
                if (c.EventsDone == 0)
                {
                    c.EventsDone = 1;
                    events.Record(pod, "Normal", "Pulling", $"Pulling image \"{c.Image}\"", "kubelet", node, fieldPath);
                    events.Record(pod, "Warning", "Failed", $"Failed to pull image \"{c.Image}\": {PullError(c.Image)}", "kubelet", node, fieldPath);
                    events.Record(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet", node, fieldPath);
                }

                if (c.EventsDone == 1 && now >= c.StartAt + options.CrashLoopInterval)
                {
                    c.EventsDone = 2;
                    events.Record(pod, "Normal", "BackOff", $"Back-off pulling image \"{c.Image}\"", "kubelet", node, fieldPath);
                    events.Record(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", node, fieldPath);
                }

                break;
        }
    }

    private static string PullError(string image) =>
        $"rpc error: code = NotFound desc = failed to pull and unpack image \"{Qualified(image)}\": failed to resolve reference \"{Qualified(image)}\": {Qualified(image)}: not found";

    private static string Qualified(string image)
    {
        var first = image.Split('/')[0];
        if (!image.Contains('/'))
        {
            return "docker.io/library/" + image;
        }

        return first.Contains('.') || first.Contains(':') || first == "localhost" ? image : "docker.io/" + image;
    }

    private JsonObject BuildStatus(JsonObject pod, PodRun run, string node, DateTimeOffset now)
    {
        var old = pod["status"] as JsonObject ?? new JsonObject();
        var statuses = new JsonArray();
        var allReady = true;
        var allStarted = true;
        var anyRunning = false;
        var unready = new List<string>();
        foreach (var c in run.Containers)
        {
            var s = new JsonObject
            {
                ["name"] = c.Name,
                ["state"] = new JsonObject(),
                ["lastState"] = new JsonObject(),
                ["ready"] = false,
                ["restartCount"] = 0,
                ["image"] = c.Image,
                ["imageID"] = "",
                ["started"] = false,
            };
            var started = Json.Time(c.StartAt);
            if (now < c.StartAt)
            {
                s["state"] = new JsonObject { ["waiting"] = new JsonObject { ["reason"] = "ContainerCreating" } };
                allStarted = false;
            }
            else
            {
                switch (c.Behaviour)
                {
                    case ImageBehaviour.Ready:
                    case ImageBehaviour.NeverReady:
                        s["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = started } };
                        s["ready"] = c.Behaviour == ImageBehaviour.Ready;
                        s["started"] = true;
                        s["imageID"] = ImageId(c.Image);
                        s["containerID"] = "containerd://" + Hex(run.Uid + c.Name);
                        anyRunning = true;
                        break;
                    case ImageBehaviour.CrashLoop:
                    {
                        var crashes = CrashCount(c, now);
                        var lastStart = c.StartAt + options.CrashLoopInterval * (crashes - 1);
                        s["state"] = new JsonObject
                        {
                            ["waiting"] = new JsonObject
                            {
                                ["reason"] = "CrashLoopBackOff",
                                ["message"] = $"back-off {Math.Min(300, 10 * (1 << Math.Min(5, crashes - 1)))}s restarting failed container={c.Name} pod={pod.Name()}_{pod.Namespace()}({pod.Uid()})",
                            },
                        };
                        s["lastState"] = new JsonObject
                        {
                            ["terminated"] = new JsonObject
                            {
                                ["exitCode"] = 1,
                                ["reason"] = "Error",
                                ["startedAt"] = Json.Time(lastStart),
                                ["finishedAt"] = Json.Time(lastStart),
                                ["containerID"] = "containerd://" + Hex(run.Uid + c.Name + crashes),
                            },
                        };
                        s["restartCount"] = crashes;
                        s["imageID"] = ImageId(c.Image);
                        s["containerID"] = "containerd://" + Hex(run.Uid + c.Name + crashes);
                        anyRunning = true;
                        break;
                    }

                    case ImageBehaviour.ImagePullError:
                    {
                        var backOff = now >= c.StartAt + options.CrashLoopInterval;
                        s["state"] = new JsonObject
                        {
                            ["waiting"] = backOff
                                ? new JsonObject { ["reason"] = "ImagePullBackOff", ["message"] = $"Back-off pulling image \"{c.Image}\": ErrImagePull: {PullError(c.Image)}" }
                                : new JsonObject { ["reason"] = "ErrImagePull", ["message"] = PullError(c.Image) },
                        };
                        allStarted = false;
                        break;
                    }
                }
            }

            if (s.Bool("ready") != true)
            {
                allReady = false;
                unready.Add(c.Name);
            }

            statuses.Add(s);
        }

        var transitions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var oc in (old["conditions"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
        {
            transitions[oc.Str("type") + "=" + oc.Str("status")] = oc.Str("lastTransitionTime") ?? Json.Time(now);
        }

        JsonObject Condition(string type, bool value, string? reason = null, string? message = null)
        {
            var statusText = value ? "True" : "False";
            var condition = new JsonObject
            {
                ["type"] = type,
                ["status"] = statusText,
                ["lastProbeTime"] = null,
                ["lastTransitionTime"] = transitions.TryGetValue(type + "=" + statusText, out var at) ? at : Json.Time(now),
            };
            if (reason is not null)
            {
                condition["reason"] = reason;
                condition["message"] = message;
            }

            return condition;
        }

        var notReadyMessage = $"containers with unready status: [{string.Join(' ', unready)}]";
        var conditions = new JsonArray(
            Condition("PodReadyToStartContainers", true),
            Condition("Initialized", true),
            allReady ? Condition("Ready", true) : Condition("Ready", false, "ContainersNotReady", notReadyMessage),
            allReady ? Condition("ContainersReady", true) : Condition("ContainersReady", false, "ContainersNotReady", notReadyMessage),
            Condition("PodScheduled", true));
        var phase = anyRunning && (allStarted || run.Containers.All(c => c.Behaviour != ImageBehaviour.ImagePullError)) ? "Running" : "Pending";
        var status = new JsonObject
        {
            ["phase"] = phase,
            ["conditions"] = conditions,
            ["hostIP"] = "172.18.0.2",
            ["hostIPs"] = new JsonArray(new JsonObject { ["ip"] = "172.18.0.2" }),
            ["podIP"] = run.PodIp,
            ["podIPs"] = new JsonArray(new JsonObject { ["ip"] = run.PodIp }),
            ["startTime"] = Json.Time(run.Created),
            ["containerStatuses"] = statuses,
            ["qosClass"] = "BestEffort",
        };
        return status;
    }

    private static string Hex(string seed)
    {
        var bytes = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed));
        return Convert.ToHexString(bytes).ToLowerInvariant();
    }

    private static string ImageId(string image) => Qualified(image).Split(':')[0] + "@sha256:" + Hex(image);

    /// <summary>
    /// The log of a container, as GET pods/{name}/log returns it; throws the real server's errors. As the kubelet reads a
    /// log, the last tailLines are taken first, then those older than since are dropped.
    /// </summary>
    public string Logs(JsonObject pod, string? container, bool previous, long? tailLines, bool timestamps, DateTimeOffset? since = null)
    {
        var containers = (Json.Walk(pod, "spec", "containers") as JsonArray ?? new JsonArray()).OfType<JsonObject>().Select(c => c.Str("name") ?? "").ToList();
        if (string.IsNullOrEmpty(container))
        {
            if (containers.Count != 1)
            {
                throw ApiException.BadRequest($"a container name must be specified for pod {pod.Name()}, choose one of: [{string.Join(' ', containers)}]");
            }

            container = containers[0];
        }
        else if (!containers.Contains(container))
        {
            throw ApiException.BadRequest($"container {container} is not valid for pod {pod.Name()}");
        }

        PodRun? run;
        lock (runs)
        {
            runs.TryGetValue(pod.Uid(), out run);
        }

        var c = run?.Containers.FirstOrDefault(x => x.Name == container);
        var now = DateTimeOffset.UtcNow;
        if (c is null || now < c.StartAt)
        {
            throw ApiException.BadRequest($"container \"{container}\" in pod \"{pod.Name()}\" is waiting to start: ContainerCreating");
        }

        var lines = new List<(DateTimeOffset At, string Text)>();
        switch (c.Behaviour)
        {
            case ImageBehaviour.ImagePullError:
                throw ApiException.BadRequest($"container \"{container}\" in pod \"{pod.Name()}\" is waiting to start: trying and failing to pull image");
            case ImageBehaviour.Ready:
            case ImageBehaviour.NeverReady:
                if (previous)
                {
                    throw ApiException.BadRequest($"previous terminated container \"{container}\" in pod \"{pod.Name()}\" not found");
                }

                lines.Add((c.StartAt, $"starting {c.Image}"));
                lines.Add((c.StartAt, "listening on :8080"));
                if (c.Behaviour == ImageBehaviour.NeverReady)
                {
                    lines.Add((c.StartAt, "warning: dependency check failed; answering 503 on /ready"));
                }
                else
                {
                    lines.Add((c.StartAt, "ready"));
                }

                break;
            case ImageBehaviour.CrashLoop:
            {
                var crashes = CrashCount(c, now);
                if (previous && crashes < 2)
                {
                    throw ApiException.BadRequest($"previous terminated container \"{container}\" in pod \"{pod.Name()}\" not found");
                }

                var at = c.StartAt + options.CrashLoopInterval * (crashes - (previous ? 2 : 1));
                lines.Add((at, $"starting {c.Image}"));
                lines.Add((at, "loading configuration from /etc/app/config.yaml"));
                lines.Add((at, "ERROR: fatal: configuration invalid: missing required setting DATABASE_URL"));
                lines.Add((at, "exit status 1"));
                break;
            }
        }

        IEnumerable<(DateTimeOffset At, string Text)> selected = lines;
        if (tailLines is { } tail && tail >= 0)
        {
            selected = lines.Skip(Math.Max(0, lines.Count - (int)tail));
        }

        if (since is { } from)
        {
            selected = selected.Where(l => l.At >= from);
        }

        return string.Concat(selected.Select(l => (timestamps ? l.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z '", CultureInfo.InvariantCulture) : "") + l.Text + "\n"));
    }
}
