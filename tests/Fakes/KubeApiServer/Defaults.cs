using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>The API server's defaulting and the parts of validation that clients notice.</summary>
public static partial class Defaults
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    /// <summary>Clears what a client may not set on create (status), as the registry strategies do.</summary>
    public static void PrepareForCreate(ResourceType type, JsonObject obj)
    {
        var meta = obj.Meta();
        foreach (var key in new[] { "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink", "managedFields" })
        {
            meta.Remove(key);
        }

        if (type == Catalog.Pods)
        {
            obj["status"] = new JsonObject { ["phase"] = "Pending", ["qosClass"] = "BestEffort" };
        }
        else if (type == Catalog.Namespaces)
        {
            obj["status"] = new JsonObject { ["phase"] = "Active" };
        }
        else if (type.HasStatus)
        {
            obj["status"] = new JsonObject();
        }
    }

    public static void Apply(ResourceType type, JsonObject obj)
    {
        var spec = obj["spec"] as JsonObject;
        if (type == Catalog.Deployments)
        {
            spec ??= obj.Obj("spec");
            spec["replicas"] ??= 1;
            spec["revisionHistoryLimit"] ??= 10;
            spec["progressDeadlineSeconds"] ??= 600;
            var strategy = spec.Obj("strategy");
            strategy["type"] ??= "RollingUpdate";
            if (strategy.Str("type") == "RollingUpdate")
            {
                var rolling = strategy.Obj("rollingUpdate");
                rolling["maxUnavailable"] ??= "25%";
                rolling["maxSurge"] ??= "25%";
            }

            Template(spec);
        }
        else if (type == Catalog.ReplicaSets)
        {
            spec ??= obj.Obj("spec");
            spec["replicas"] ??= 1;
            Template(spec);
        }
        else if (type == Catalog.StatefulSets)
        {
            spec ??= obj.Obj("spec");
            spec["replicas"] ??= 1;
            spec["podManagementPolicy"] ??= "OrderedReady";
            var strategy = spec.Obj("updateStrategy");
            strategy["type"] ??= "RollingUpdate";
            if (strategy.Str("type") == "RollingUpdate")
            {
                strategy.Obj("rollingUpdate")["partition"] ??= 0;
            }

            spec["revisionHistoryLimit"] ??= 10;
            var retention = spec.Obj("persistentVolumeClaimRetentionPolicy");
            retention["whenDeleted"] ??= "Retain";
            retention["whenScaled"] ??= "Retain";
            Template(spec);
        }
        else if (type == Catalog.DaemonSets)
        {
            spec ??= obj.Obj("spec");
            var strategy = spec.Obj("updateStrategy");
            strategy["type"] ??= "RollingUpdate";
            if (strategy.Str("type") == "RollingUpdate")
            {
                var rolling = strategy.Obj("rollingUpdate");
                rolling["maxUnavailable"] ??= 1;
                rolling["maxSurge"] ??= 0;
            }

            spec["revisionHistoryLimit"] ??= 10;
            Template(spec);
        }
        else if (type == Catalog.Pods)
        {
            spec ??= obj.Obj("spec");
            PodSpec(spec);
            spec["serviceAccountName"] ??= "default";
            spec["serviceAccount"] ??= spec["serviceAccountName"]!.DeepClone();
            spec["enableServiceLinks"] ??= true;
            spec["priority"] ??= 0;
            spec["preemptionPolicy"] ??= "PreemptLowerPriority";
            if (spec["tolerations"] is null)
            {
                spec["tolerations"] = new JsonArray(
                    new JsonObject { ["key"] = "node.kubernetes.io/not-ready", ["operator"] = "Exists", ["effect"] = "NoExecute", ["tolerationSeconds"] = 300 },
                    new JsonObject { ["key"] = "node.kubernetes.io/unreachable", ["operator"] = "Exists", ["effect"] = "NoExecute", ["tolerationSeconds"] = 300 });
            }
        }
        else if (type == Catalog.Secrets)
        {
            obj["type"] ??= "Opaque";
        }
        else if (type == Catalog.Namespaces)
        {
            obj.Labels()["kubernetes.io/metadata.name"] = obj.Name();
            obj.Obj("spec")["finalizers"] ??= new JsonArray("kubernetes");
        }
        else if (type == Catalog.Services)
        {
            spec ??= obj.Obj("spec");
            spec["type"] ??= "ClusterIP";
            spec["sessionAffinity"] ??= "None";
            if (spec["clusterIP"] is null && spec.Str("type") != "ExternalName")
            {
                var ip = $"10.96.{Random.Shared.Next(1, 254)}.{Random.Shared.Next(1, 254)}";
                spec["clusterIP"] = ip;
                spec["clusterIPs"] = new JsonArray(ip);
            }

            spec["ipFamilies"] ??= new JsonArray("IPv4");
            spec["ipFamilyPolicy"] ??= "SingleStack";
            spec["internalTrafficPolicy"] ??= "Cluster";
            if (spec["ports"] is JsonArray ports)
            {
                foreach (var port in ports.OfType<JsonObject>())
                {
                    port["protocol"] ??= "TCP";
                    port["targetPort"] ??= port["port"]?.DeepClone();
                }
            }
        }

        Json.TidyMeta(obj);
    }

    private static void Template(JsonObject spec)
    {
        var template = spec.Obj("template");
        var meta = template.Obj("metadata");
        if (!meta.ContainsKey("creationTimestamp"))
        {
            meta["creationTimestamp"] = null;
        }

        PodSpec(template.Obj("spec"));
    }

    private static void PodSpec(JsonObject podSpec)
    {
        foreach (var list in new[] { "initContainers", "containers" })
        {
            if (podSpec[list] is not JsonArray containers)
            {
                continue;
            }

            foreach (var container in containers.OfType<JsonObject>())
            {
                container["resources"] ??= new JsonObject();
                container["terminationMessagePath"] ??= "/dev/termination-log";
                container["terminationMessagePolicy"] ??= "File";
                var image = container.Str("image") ?? "";
                container["imagePullPolicy"] ??= PullPolicy(image);
                if (container["ports"] is JsonArray ports)
                {
                    foreach (var port in ports.OfType<JsonObject>())
                    {
                        port["protocol"] ??= "TCP";
                    }
                }

                foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
                {
                    if (container[probe] is JsonObject p)
                    {
                        p["timeoutSeconds"] ??= 1;
                        p["periodSeconds"] ??= 10;
                        p["successThreshold"] ??= 1;
                        p["failureThreshold"] ??= 3;
                        if (p["httpGet"] is JsonObject http)
                        {
                            http["path"] ??= "/";
                            http["scheme"] ??= "HTTP";
                        }
                    }
                }
            }
        }

        podSpec["restartPolicy"] ??= "Always";
        podSpec["terminationGracePeriodSeconds"] ??= 30;
        podSpec["dnsPolicy"] ??= "ClusterFirst";
        podSpec["securityContext"] ??= new JsonObject();
        podSpec["schedulerName"] ??= "default-scheduler";
    }

    private static string PullPolicy(string image)
    {
        var lastSlash = image.LastIndexOf('/');
        var nameAndTag = image[(lastSlash + 1)..];
        if (nameAndTag.Contains('@'))
        {
            return "IfNotPresent";
        }

        var colon = nameAndTag.LastIndexOf(':');
        return colon < 0 || nameAndTag[(colon + 1)..] == "latest" ? "Always" : "IfNotPresent";
    }

    public static void Validate(ResourceType type, JsonObject obj, JsonObject? old)
    {
        var name = obj.Name();
        if (name.Length == 0)
        {
            throw ApiException.Invalid(type, name, "metadata.name", "Required value: name or generateName is required", "FieldValueRequired");
        }

        if (type != Catalog.Events && (name.Length > 253 || !Subdomain().IsMatch(name)))
        {
            throw ApiException.Invalid(type, name, "metadata.name",
                $"Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
        }

        JsonObject? podSpec = null;
        if (type == Catalog.Deployments || type == Catalog.ReplicaSets || type == Catalog.StatefulSets || type == Catalog.DaemonSets)
        {
            var selector = Json.Walk(obj, "spec", "selector") as JsonObject;
            if (selector is null || (selector["matchLabels"] is not JsonObject { Count: > 0 } && selector["matchExpressions"] is not JsonArray { Count: > 0 }))
            {
                throw ApiException.Invalid(type, name, "spec.selector", "Required value", "FieldValueRequired");
            }

            var templateLabels = Json.StringMap(Json.Walk(obj, "spec", "template", "metadata", "labels"));
            if (!LabelSelector.FromObject(selector).Matches(templateLabels))
            {
                var shown = string.Join(", ", templateLabels.Select(p => $"\"{p.Key}\":\"{p.Value}\""));
                throw ApiException.Invalid(type, name, "spec.template.metadata.labels",
                    $"Invalid value: map[string]string{{{shown}}}: `selector` does not match template `labels`");
            }

            if (old is not null && !Json.Same(Json.Walk(old, "spec", "selector"), selector))
            {
                throw ApiException.Invalid(type, name, "spec.selector", "Invalid value: " + Json.Compact(selector) + ": field is immutable");
            }

            if (type == Catalog.Deployments && obj.Str("spec", "strategy", "type") == "Recreate" && Json.Walk(obj, "spec", "strategy", "rollingUpdate") is not null)
            {
                throw ApiException.Invalid(type, name, "spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'", "FieldValueForbidden");
            }

            if ((obj.Long("spec", "replicas") ?? 0) < 0)
            {
                throw ApiException.Invalid(type, name, "spec.replicas", $"Invalid value: {obj.Long("spec", "replicas")}: must be greater than or equal to 0");
            }

            podSpec = Json.Walk(obj, "spec", "template", "spec") as JsonObject;
            ValidatePodSpec(type, name, podSpec, "spec.template.spec");
        }
        else if (type == Catalog.Pods)
        {
            podSpec = obj["spec"] as JsonObject;
            ValidatePodSpec(type, name, podSpec, "spec");
            if (old is not null)
            {
                var before = old["spec"]!.DeepClone() as JsonObject;
                var after = podSpec!.DeepClone() as JsonObject;
                // Only images (and a few fields clients do not touch here) may change on a pod.
                foreach (var spec in new[] { before!, after! })
                {
                    spec.Remove("activeDeadlineSeconds");
                    spec.Remove("tolerations");
                    spec.Remove("terminationGracePeriodSeconds");
                    foreach (var c in (spec["containers"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
                    {
                        c.Remove("image");
                    }
                }

                if (!Json.Same(before, after))
                {
                    throw ApiException.Invalid(type, name, "spec", "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)", "FieldValueForbidden");
                }
            }
        }
    }

    private static void ValidatePodSpec(ResourceType type, string name, JsonObject? podSpec, string path)
    {
        if (podSpec?["containers"] is not JsonArray { Count: > 0 } containers)
        {
            throw ApiException.Invalid(type, name, path + ".containers", "Required value", "FieldValueRequired");
        }

        var seen = new HashSet<string>();
        for (var i = 0; i < containers.Count; i++)
        {
            var container = containers[i] as JsonObject;
            var containerName = container.Str("name");
            if (string.IsNullOrEmpty(containerName))
            {
                throw ApiException.Invalid(type, name, $"{path}.containers[{i}].name", "Required value", "FieldValueRequired");
            }

            if (!seen.Add(containerName))
            {
                throw ApiException.Invalid(type, name, $"{path}.containers[{i}].name", $"Duplicate value: \"{containerName}\"", "FieldValueDuplicate");
            }

            if (string.IsNullOrEmpty(container.Str("image")))
            {
                throw ApiException.Invalid(type, name, $"{path}.containers[{i}].image", "Required value", "FieldValueRequired");
            }
        }
    }
}
