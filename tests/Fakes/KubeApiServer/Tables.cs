using System.Globalization;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>Server-side printing (meta.k8s.io/v1 Table), the columns kubectl get shows for each type.</summary>
public static class Tables
{
    private sealed record Column(string Name, string Type, string Description, int Priority = 0, string Format = "");

    private static readonly Column NameColumn = new("Name", "string", "Name must be unique within a namespace.", 0, "name");
    private static readonly Column AgeColumn = new("Age", "string", "CreationTimestamp is a timestamp representing the server time when this object was created.");

    public static JsonObject Convert(ResourceType type, IEnumerable<JsonObject> items, string? resourceVersion, string? continueToken, bool includeObject)
    {
        var columns = Columns(type);
        var rows = new JsonArray();
        foreach (var item in items)
        {
            var cells = new JsonArray(Cells(type, item).Select(c => c switch
            {
                null => null,
                string text => JsonValue.Create(text),
                long number => JsonValue.Create(number),
                int number => JsonValue.Create(number),
                _ => (JsonNode?)JsonValue.Create(c.ToString()),
            }).ToArray());
            JsonObject rowObject;
            if (includeObject)
            {
                rowObject = item.Clone();
                rowObject["kind"] = type.Kind;
                rowObject["apiVersion"] = type.ApiVersion;
            }
            else
            {
                rowObject = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = item["metadata"]?.DeepClone(),
                };
            }

            rows.Add(new JsonObject { ["cells"] = cells, ["object"] = rowObject });
        }

        var meta = new JsonObject();
        if (resourceVersion is not null)
        {
            meta["resourceVersion"] = resourceVersion;
        }

        if (!string.IsNullOrEmpty(continueToken))
        {
            meta["continue"] = continueToken;
        }

        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = meta,
            ["columnDefinitions"] = new JsonArray(columns.Select(c => (JsonNode?)new JsonObject
            {
                ["name"] = c.Name,
                ["type"] = c.Type,
                ["format"] = c.Format,
                ["description"] = c.Description,
                ["priority"] = c.Priority,
            }).ToArray()),
            ["rows"] = rows,
        };
    }

    private static Column[] Columns(ResourceType type)
    {
        if (type == Catalog.Deployments)
        {
            return [NameColumn, new("Ready", "string", "Number of the pod with ready state"), new("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
                new("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."), AgeColumn,
                new("Containers", "string", "Names of each container in the template.", 1), new("Images", "string", "Images referenced by each container in the template.", 1), new("Selector", "string", "Label selector for pods.", 1)];
        }

        if (type == Catalog.ReplicaSets)
        {
            return [NameColumn, new("Desired", "integer", "Replicas is the number of desired replicas."), new("Current", "integer", "Replicas is the most recently observed number of replicas."),
                new("Ready", "integer", "The number of ready replicas for this replica set."), AgeColumn,
                new("Containers", "string", "Names of each container in the template.", 1), new("Images", "string", "Images referenced by each container in the template.", 1), new("Selector", "string", "Selector is a label query over pods.", 1)];
        }

        if (type == Catalog.StatefulSets)
        {
            return [NameColumn, new("Ready", "string", "Number of the pod with ready state"), AgeColumn,
                new("Containers", "string", "Names of each container in the template.", 1), new("Images", "string", "Images referenced by each container in the template.", 1)];
        }

        if (type == Catalog.DaemonSets)
        {
            return [NameColumn, new("Desired", "integer", "The total number of nodes that should be running the daemon pod."), new("Current", "integer", "The number of nodes that are running at least 1 daemon pod."),
                new("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
                new("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"), new("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
                new("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."), AgeColumn,
                new("Containers", "string", "Names of each container in the template.", 1), new("Images", "string", "Images referenced by each container in the template.", 1), new("Selector", "string", "A label query over pods that are managed by the daemon set.", 1)];
        }

        if (type == Catalog.Pods)
        {
            return [NameColumn, new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."), new("Status", "string", "The aggregate status of the containers in this pod."),
                new("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."), AgeColumn,
                new("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1), new("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
                new("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1), new("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1)];
        }

        if (type == Catalog.ControllerRevisions)
        {
            return [NameColumn, new("Controller", "string", "Controller of the object"), new("Revision", "string", "Revision indicates the revision of the state represented by Data."), AgeColumn];
        }

        if (type == Catalog.Events)
        {
            return [new("Last Seen", "string", "Time when this Event was last observed."), new("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
                new("Reason", "string", "This should be a short, machine understandable string that gives the reason for this event being generated."),
                new("Object", "string", "The object that this event is about."),
                new("Subobject", "string", "The subobject of the object that this event is about.", 1), new("Source", "string", "The component reporting this event.", 1),
                new("Message", "string", "A human-readable description of the status of this operation."),
                new("First Seen", "string", "The time at which the event was first recorded.", 1), new("Count", "string", "The number of times this event has occurred.", 1), new("Name", "string", "Name of the event.", 1, "name")];
        }

        if (type == Catalog.ConfigMaps)
        {
            return [NameColumn, new("Data", "string", "Data contains the configuration data."), AgeColumn];
        }

        if (type == Catalog.Secrets)
        {
            return [NameColumn, new("Type", "string", "Used to facilitate programmatic handling of secret data."), new("Data", "string", "Data contains the secret data."), AgeColumn];
        }

        if (type == Catalog.Namespaces)
        {
            return [NameColumn, new("Status", "string", "The status of the namespace"), AgeColumn];
        }

        if (type == Catalog.Nodes)
        {
            return [NameColumn, new("Status", "string", "The status of the node"), new("Roles", "string", "The roles of the node"), AgeColumn, new("Version", "string", "Kubelet Version reported by the node.")];
        }

        if (type == Catalog.Services)
        {
            return [NameColumn, new("Type", "string", "Determines how the Service is exposed."), new("Cluster-IP", "string", "Cluster IP of the service."),
                new("External-IP", "string", "External IPs of the service."), new("Port(s)", "string", "The ports that are exposed by this service."), AgeColumn];
        }

        return [NameColumn, new("Created At", "date", "CreationTimestamp is a timestamp representing the server time when this object was created.")];
    }

    private static object?[] Cells(ResourceType type, JsonObject o)
    {
        var name = o.Name();
        var age = Age(o.Str("metadata", "creationTimestamp"));
        var containers = Json.Walk(o, "spec", "template", "spec", "containers") as JsonArray ?? new JsonArray();
        var containerNames = string.Join(",", containers.Select(c => c.Str("name")));
        var images = string.Join(",", containers.Select(c => c.Str("image")));
        long S(string field) => o.Long("status", field) ?? 0;
        if (type == Catalog.Deployments)
        {
            return [name, $"{S("readyReplicas")}/{o.Long("spec", "replicas") ?? 1}", S("updatedReplicas"), S("availableReplicas"), age, containerNames, images, LabelSelector.ToText(Json.Walk(o, "spec", "selector"))];
        }

        if (type == Catalog.ReplicaSets)
        {
            return [name, o.Long("spec", "replicas") ?? 1, S("replicas"), S("readyReplicas"), age, containerNames, images, LabelSelector.ToText(Json.Walk(o, "spec", "selector"))];
        }

        if (type == Catalog.StatefulSets)
        {
            return [name, $"{S("readyReplicas")}/{o.Long("spec", "replicas") ?? 1}", age, containerNames, images];
        }

        if (type == Catalog.DaemonSets)
        {
            var selector = Json.StringMap(Json.Walk(o, "spec", "template", "spec", "nodeSelector"));
            return [name, S("desiredNumberScheduled"), S("currentNumberScheduled"), S("numberReady"), S("updatedNumberScheduled"), S("numberAvailable"),
                selector.Count == 0 ? "<none>" : string.Join(",", selector.Select(p => p.Key + "=" + p.Value)), age, containerNames, images, LabelSelector.ToText(Json.Walk(o, "spec", "selector"))];
        }

        if (type == Catalog.Pods)
        {
            return PodCells(o, age);
        }

        if (type == Catalog.ControllerRevisions)
        {
            var owner = (Json.Walk(o, "metadata", "ownerReferences") as JsonArray ?? new JsonArray()).OfType<JsonObject>().FirstOrDefault(r => r.Bool("controller") == true);
            var controller = owner is null ? "<none>" : $"{owner.Str("kind")!.ToLowerInvariant()}.{(owner.Str("apiVersion") ?? "").Split('/')[0]}/{owner.Str("name")}";
            return [name, controller, o.Long("revision") ?? 0, age];
        }

        if (type == Catalog.Events)
        {
            var last = o.Str("lastTimestamp") ?? o.Str("eventTime") ?? o.Str("metadata", "creationTimestamp");
            var kind = o.Str("involvedObject", "kind") ?? "";
            return [Age(last), o.Str("type") ?? "", o.Str("reason") ?? "", $"{kind.ToLowerInvariant()}/{o.Str("involvedObject", "name")}", o.Str("involvedObject", "fieldPath") ?? "",
                string.Join(", ", new[] { o.Str("source", "component"), o.Str("source", "host") }.Where(s => !string.IsNullOrEmpty(s))),
                o.Str("message") ?? "", Age(o.Str("firstTimestamp") ?? last), (o.Long("count") ?? 1).ToString(CultureInfo.InvariantCulture), name];
        }

        if (type == Catalog.ConfigMaps)
        {
            return [name, ((o["data"] as JsonObject)?.Count ?? 0) + ((o["binaryData"] as JsonObject)?.Count ?? 0), age];
        }

        if (type == Catalog.Secrets)
        {
            return [name, o.Str("type") ?? "Opaque", (o["data"] as JsonObject)?.Count ?? 0, age];
        }

        if (type == Catalog.Namespaces)
        {
            return [name, o.Str("status", "phase") ?? "Active", age];
        }

        if (type == Catalog.Nodes)
        {
            return [name, "Ready", "<none>", age, o.Str("status", "nodeInfo", "kubeletVersion") ?? ""];
        }

        if (type == Catalog.Services)
        {
            var ports = (Json.Walk(o, "spec", "ports") as JsonArray ?? new JsonArray()).OfType<JsonObject>().Select(p => $"{p.Long("port")}/{p.Str("protocol") ?? "TCP"}");
            return [name, o.Str("spec", "type") ?? "ClusterIP", o.Str("spec", "clusterIP") ?? "<none>", "<none>", string.Join(",", ports), age];
        }

        return [name, o.Str("metadata", "creationTimestamp")];
    }

    private static object?[] PodCells(JsonObject pod, string age)
    {
        var statuses = (Json.Walk(pod, "status", "containerStatuses") as JsonArray ?? new JsonArray()).OfType<JsonObject>().ToList();
        var total = (Json.Walk(pod, "spec", "containers") as JsonArray)?.Count ?? 0;
        var ready = statuses.Count(s => s.Bool("ready") == true);
        var reason = pod.Str("status", "reason") ?? pod.Str("status", "phase") ?? "Pending";
        long restarts = 0;
        DateTimeOffset? lastRestart = null;
        foreach (var s in statuses)
        {
            restarts += s.Long("restartCount") ?? 0;
            if (Json.ParseTime(s.Str("lastState", "terminated", "finishedAt")) is { } finished && (lastRestart is null || finished > lastRestart))
            {
                lastRestart = finished;
            }

            if (s.Str("state", "waiting", "reason") is { Length: > 0 } waiting)
            {
                reason = waiting;
            }
            else if (s.Str("state", "terminated", "reason") is { Length: > 0 } terminated)
            {
                reason = terminated;
            }
        }

        if (pod.Str("metadata", "deletionTimestamp") is not null)
        {
            reason = "Terminating";
        }

        var restartText = restarts.ToString(CultureInfo.InvariantCulture);
        if (lastRestart is not null && restarts > 0)
        {
            restartText += $" ({Age(Json.Time(lastRestart.Value))} ago)";
        }

        return [pod.Name(), $"{ready}/{total}", reason, restartText, age, pod.Str("status", "podIP") ?? "<none>", pod.Str("spec", "nodeName") ?? "<none>", "<none>", "<none>"];
    }

    /// <summary>duration.HumanDuration, as kubectl shows ages.</summary>
    public static string Age(string? timestamp)
    {
        if (Json.ParseTime(timestamp) is not { } at)
        {
            return "<unknown>";
        }

        var d = DateTimeOffset.UtcNow - at;
        if (d < TimeSpan.Zero)
        {
            d = TimeSpan.Zero;
        }

        var seconds = (long)d.TotalSeconds;
        if (seconds < 120)
        {
            return seconds + "s";
        }

        var minutes = (long)d.TotalMinutes;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? $"{minutes}m" : $"{minutes}m{s}s";
        }

        if (minutes < 180)
        {
            return minutes + "m";
        }

        var hours = (long)d.TotalHours;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? $"{hours}h" : $"{hours}h{m}m";
        }

        if (hours < 48)
        {
            return hours + "h";
        }

        return (hours / 24) + "d";
    }
}
