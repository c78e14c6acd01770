using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine.Kubernetes;

/// <summary>
/// Pod templates as JSON: compared the way kubectl compares them (ignoring the pod-template-hash label, with empty and
/// absent fields equal), hashed to recognise a verified-good template under any revision number, and diffed for -WhatIf.
/// </summary>
internal static class PodTemplates
{
    public const string HashLabel = "pod-template-hash";

    /// <summary>A copy without the controller's hash label (kubectl removes it before patching a template back).</summary>
    public static JsonObject WithoutHashLabel(JsonNode template)
    {
        var copy = template.DeepClone().AsObject();
        if (copy["metadata"]?["labels"] is JsonObject labels)
        {
            labels.Remove(HashLabel);
        }

        return copy;
    }

    public static bool Equivalent(JsonNode a, JsonNode b) => Canonical(WithoutHashLabel(a)) == Canonical(WithoutHashLabel(b));

    /// <summary>A stable identity of a template: the same template has the same hash whatever its revision number.</summary>
    public static string Hash(JsonNode template)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(WithoutHashLabel(template))));
        return Convert.ToHexString(bytes, 0, 8).ToLowerInvariant();
    }

    /// <summary>"app=registry/app:2.3.0, init:migrate=registry/migrate:1" : what people recognise a version by.</summary>
    public static string Images(JsonNode template)
    {
        var spec = template["spec"];
        var parts = Containers(spec, "initContainers").Select(c => $"init:{c["name"]}={c["image"]}")
            .Concat(Containers(spec, "containers").Select(c => $"{c["name"]}={c["image"]}"));
        return string.Join(", ", parts);
    }

    /// <summary>What changes when current is replaced by target: images, env, resources, commands, config references, the rest summarised.</summary>
    public static IReadOnlyList<string> Diff(JsonNode current, JsonNode target)
    {
        var lines = new List<string>();
        foreach (var list in new[] { "initContainers", "containers" })
        {
            var now = Containers(current["spec"], list).ToDictionary(c => (string?)c["name"] ?? "", StringComparer.Ordinal);
            var then = Containers(target["spec"], list).ToDictionary(c => (string?)c["name"] ?? "", StringComparer.Ordinal);
            foreach (var name in now.Keys.Except(then.Keys))
            {
                lines.Add($"container {name}: removed ({now[name]["image"]})");
            }

            foreach (var name in then.Keys.Except(now.Keys))
            {
                lines.Add($"container {name}: added ({then[name]["image"]})");
            }

            foreach (var name in now.Keys.Intersect(then.Keys))
            {
                var (a, b) = (now[name], then[name]);
                if ((string?)a["image"] != (string?)b["image"])
                {
                    lines.Add($"container {name}: image {a["image"]} -> {b["image"]}");
                }

                var envA = EnvOf(a);
                var envB = EnvOf(b);
                foreach (var key in envA.Keys.Union(envB.Keys).Order(StringComparer.Ordinal))
                {
                    envA.TryGetValue(key, out var va);
                    envB.TryGetValue(key, out var vb);
                    if (va != vb)
                    {
                        lines.Add($"container {name}: env {key} {Show(key, va)} -> {Show(key, vb)}");
                    }
                }

                foreach (var field in new[] { "resources", "command", "args", "envFrom", "readinessProbe", "livenessProbe", "ports", "volumeMounts" })
                {
                    if (Canonical(a[field]) != Canonical(b[field]))
                    {
                        lines.Add($"container {name}: {field} {Compact(a[field])} -> {Compact(b[field])}");
                    }
                }
            }
        }

        var refsNow = ConfigReferences(current);
        var refsThen = ConfigReferences(target);
        lines.AddRange(refsThen.Except(refsNow).Select(r => $"references {r.Kind} {r.Name}"));
        lines.AddRange(refsNow.Except(refsThen).Select(r => $"no longer references {r.Kind} {r.Name}"));
        if (lines.Count == 0 && !Equivalent(current, target))
        {
            lines.Add("pod template fields other than containers differ (labels, annotations, volumes or pod settings)");
        }

        return lines;
    }

    /// <summary>The ConfigMaps and Secrets a template uses: env, envFrom and volumes (also projected), in every container.</summary>
    public static IReadOnlyList<ConfigReference> ConfigReferences(JsonNode template)
    {
        var found = new SortedSet<ConfigReference>();
        var spec = template["spec"];
        foreach (var container in Containers(spec, "initContainers").Concat(Containers(spec, "containers")))
        {
            foreach (var env in container["env"]?.AsArray() ?? new JsonArray())
            {
                Add(found, "ConfigMap", env?["valueFrom"]?["configMapKeyRef"]?["name"]);
                Add(found, "Secret", env?["valueFrom"]?["secretKeyRef"]?["name"]);
            }

            foreach (var source in container["envFrom"]?.AsArray() ?? new JsonArray())
            {
                Add(found, "ConfigMap", source?["configMapRef"]?["name"]);
                Add(found, "Secret", source?["secretRef"]?["name"]);
            }
        }

        foreach (var volume in spec?["volumes"]?.AsArray() ?? new JsonArray())
        {
            Add(found, "ConfigMap", volume?["configMap"]?["name"]);
            Add(found, "Secret", volume?["secret"]?["secretName"]);
            foreach (var projected in volume?["projected"]?["sources"]?.AsArray() ?? new JsonArray())
            {
                Add(found, "ConfigMap", projected?["configMap"]?["name"]);
                Add(found, "Secret", projected?["secret"]?["name"]);
            }
        }

        return found.ToList();
    }

    /// <summary>JSON with sorted keys and without nulls, empty lists or empty objects (Go's semantic equality treats them as absent).</summary>
    public static string Canonical(JsonNode? node) => Normalise(node)?.ToJsonString() ?? "";

    public static IEnumerable<JsonObject> Containers(JsonNode? spec, string list) =>
        (spec?[list] as JsonArray ?? new JsonArray()).OfType<JsonObject>();

    private static JsonNode? Normalise(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                var sorted = new JsonObject();
                foreach (var (key, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (Normalise(value) is { } kept)
                    {
                        sorted[key] = kept;
                    }
                }

                return sorted.Count == 0 ? null : sorted;
            case JsonArray array:
                var items = new JsonArray();
                foreach (var item in array)
                {
                    items.Add(Normalise(item) ?? new JsonObject());
                }

                return items.Count == 0 ? null : items;
            case null:
                return null;
            default:
                return node.DeepClone();
        }
    }

    private static Dictionary<string, string> EnvOf(JsonNode container)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in container["env"]?.AsArray() ?? new JsonArray())
        {
            if (item?["name"] is { } name)
            {
                env[(string)name!] = item["value"] is { } value ? (string?)value ?? "" : "from " + Compact(item["valueFrom"]);
            }
        }

        return env;
    }

    private static string Show(string key, string? value) => value is null ? "(unset)" : SecretRedactor.IsSecretKey(key) ? SecretRedactor.Mask : value;

    private static string Compact(JsonNode? node) => Canonical(node) is { Length: > 0 } text ? (text.Length > 120 ? text[..117] + "..." : text) : "(none)";

    private static void Add(SortedSet<ConfigReference> found, string kind, JsonNode? name)
    {
        if (name is not null && (string?)name is { Length: > 0 } text)
        {
            found.Add(new ConfigReference(kind, text));
        }
    }
}

internal sealed record ConfigReference(string Kind, string Name) : IComparable<ConfigReference>
{
    public int CompareTo(ConfigReference? other) => other is null ? 1 : string.CompareOrdinal($"{Kind}/{Name}", $"{other.Kind}/{other.Name}");

    public override string ToString() => $"{Kind} {Name}";
}
