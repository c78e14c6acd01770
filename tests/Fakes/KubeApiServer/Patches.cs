using System.Globalization;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch over the built-in types' patch strategies.</summary>
public static class Patches
{
    public const string JsonPatch = "application/json-patch+json";
    public const string MergePatch = "application/merge-patch+json";
    public const string StrategicMergePatch = "application/strategic-merge-patch+json";
    public const string ApplyPatch = "application/apply-patch+yaml";

    public static JsonObject Apply(JsonObject target, string contentType, string body)
    {
        var type = contentType.Split(';')[0].Trim().ToLowerInvariant();
        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(body);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw ApiException.BadRequest("error decoding patch: " + e.Message);
        }

        switch (type)
        {
            case JsonPatch:
                if (patch is not JsonArray operations)
                {
                    throw ApiException.BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
                }

                return ApplyJsonPatch(target, operations);
            case MergePatch:
                return (JsonObject)(MergeJson(target, patch) ?? new JsonObject());
            case StrategicMergePatch:
                if (patch is not JsonObject smp)
                {
                    throw ApiException.BadRequest("unable to find api field in struct for the patch");
                }

                return (JsonObject)(Strategic(target, smp, "") ?? new JsonObject());
            default:
                throw new ApiException(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: {JsonPatch}, {MergePatch}, {StrategicMergePatch}");
        }
    }

    // ---- RFC 6902 ----

    private static JsonObject ApplyJsonPatch(JsonObject target, JsonArray operations)
    {
        JsonNode root = target.Clone();
        foreach (var operation in operations.OfType<JsonObject>())
        {
            var op = operation.Str("op");
            var path = operation.Str("path") ?? throw Invalid("missing path");
            switch (op)
            {
                case "add":
                    root = Add(root, path, operation["value"]?.DeepClone());
                    break;
                case "remove":
                    root = Remove(root, path, out _);
                    break;
                case "replace":
                    root = Remove(root, path, out _);
                    root = Add(root, path, operation["value"]?.DeepClone());
                    break;
                case "move":
                {
                    var from = operation.Str("from") ?? throw Invalid("missing from");
                    root = Remove(root, from, out var moved);
                    root = Add(root, path, moved);
                    break;
                }

                case "copy":
                {
                    var from = operation.Str("from") ?? throw Invalid("missing from");
                    root = Add(root, path, Resolve(root, from)?.DeepClone());
                    break;
                }

                case "test":
                    if (!Json.Same(Resolve(root, path), operation["value"]))
                    {
                        throw Invalid($"testing value {path} failed: test failed");
                    }

                    break;
                default:
                    throw Invalid($"Unexpected kind: {op}");
            }
        }

        return root as JsonObject ?? throw Invalid("patch result is not an object");
    }

    private static ApiException Invalid(string message) =>
        new(422, "Invalid", "the server rejected our request due to an error in our request", new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = message }) });

    private static string[] Tokens(string pointer)
    {
        if (pointer.Length == 0)
        {
            return [];
        }

        if (!pointer.StartsWith('/'))
        {
            throw Invalid($"invalid path {pointer}");
        }

        return pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
    }

    private static JsonNode? Resolve(JsonNode root, string pointer)
    {
        JsonNode? current = root;
        foreach (var token in Tokens(pointer))
        {
            current = current switch
            {
                JsonObject o when o.ContainsKey(token) => o[token],
                JsonArray a when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
                _ => throw Invalid($"doc is missing path: \"{pointer}\": missing value"),
            };
        }

        return current;
    }

    private static JsonNode Add(JsonNode root, string pointer, JsonNode? value)
    {
        var tokens = Tokens(pointer);
        if (tokens.Length == 0)
        {
            return value ?? throw Invalid("cannot replace the document with null");
        }

        var parent = Resolve(root, ParentPointer(tokens));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a:
                if (last == "-")
                {
                    a.Add(value);
                }
                else if (int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= a.Count)
                {
                    a.Insert(i, value);
                }
                else
                {
                    throw Invalid($"Unable to access invalid index: {last}");
                }

                break;
            default:
                throw Invalid($"doc is missing path: \"{pointer}\": missing value");
        }

        return root;
    }

    private static JsonNode Remove(JsonNode root, string pointer, out JsonNode? removed)
    {
        var tokens = Tokens(pointer);
        var parent = Resolve(root, ParentPointer(tokens));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(last):
                removed = o[last];
                o.Remove(last);
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count:
                removed = a[i];
                a.RemoveAt(i);
                break;
            default:
                throw Invalid($"doc is missing path: \"{pointer}\": missing value");
        }

        removed = removed?.DeepClone();
        return root;
    }

    private static string ParentPointer(string[] tokens) =>
        tokens.Length <= 1 ? "" : "/" + string.Join('/', tokens[..^1].Select(Escape));

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    // ---- RFC 7386 ----

    public static JsonNode? MergeJson(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject t ? t.Clone() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = MergeJson(result[key], value);
            }
        }

        return result;
    }

    // ---- strategic merge patch ----

    /// <summary>The merge key of a list field (patchStrategy=merge), from the Go types; null: the list is replaced.</summary>
    private static string? MergeKey(string path, string field)
    {
        switch (field)
        {
            case "containers":
            case "initContainers":
            case "ephemeralContainers":
            case "volumes":
            case "env":
            case "imagePullSecrets":
            case "resourceClaims":
            case "schedulingGates":
                return "name";
            case "volumeMounts":
                return "mountPath";
            case "volumeDevices":
                return "devicePath";
            case "ownerReferences":
                return "uid";
            case "conditions":
                return "type";
            case "hostAliases":
                return "ip";
            case "topologySpreadConstraints":
                return "topologyKey";
            case "ports":
                return path.Contains("ontainers", StringComparison.Ordinal) ? "containerPort" : "port";
            default:
                return null;
        }
    }

    /// <summary>Lists of scalars merged as sets.</summary>
    private static bool ScalarSet(string field) => field is "finalizers";

    private static JsonNode? Strategic(JsonNode? original, JsonObject patch, string path)
    {
        var directive = patch.Str("$patch");
        if (directive == "replace")
        {
            var replacement = patch.Clone();
            replacement.Remove("$patch");
            return StripDirectives(replacement);
        }

        if (directive == "delete")
        {
            return null;
        }

        var result = original is JsonObject o ? o.Clone() : new JsonObject();
        var orders = new Dictionary<string, JsonArray>();
        List<string>? retainKeys = null;
        foreach (var (key, value) in patch)
        {
            if (key == "$patch")
            {
                continue;
            }

            if (key == "$retainKeys")
            {
                retainKeys = (value as JsonArray)?.Select(v => v?.GetValue<string>() ?? "").ToList();
                continue;
            }

            if (key.StartsWith("$setElementOrder/", StringComparison.Ordinal))
            {
                if (value is JsonArray order)
                {
                    orders[key["$setElementOrder/".Length..]] = order;
                }

                continue;
            }

            if (key.StartsWith("$deleteFromPrimitiveList/", StringComparison.Ordinal))
            {
                var field = key["$deleteFromPrimitiveList/".Length..];
                if (result[field] is JsonArray existing && value is JsonArray remove)
                {
                    var kept = existing.Where(e => !remove.Any(r => Json.Same(r, e))).Select(e => e?.DeepClone()).ToArray();
                    result[field] = new JsonArray(kept);
                }

                continue;
            }

            var childPath = path + "/" + key;
            switch (value)
            {
                case null:
                    result.Remove(key);
                    break;
                case JsonObject childPatch:
                {
                    var merged = Strategic(result[key], childPatch, childPath);
                    if (merged is null)
                    {
                        result.Remove(key);
                    }
                    else
                    {
                        result[key] = merged;
                    }

                    break;
                }

                case JsonArray listPatch:
                    result[key] = MergeList(result[key] as JsonArray, listPatch, path, key);
                    break;
                default:
                    result[key] = value.DeepClone();
                    break;
            }
        }

        foreach (var (field, order) in orders)
        {
            if (result[field] is JsonArray list)
            {
                result[field] = Reorder(list, order, MergeKey(path, field));
            }
        }

        if (retainKeys is not null)
        {
            foreach (var key in result.Select(p => p.Key).ToList())
            {
                if (!retainKeys.Contains(key))
                {
                    result.Remove(key);
                }
            }
        }

        return result;
    }

    private static JsonArray MergeList(JsonArray? original, JsonArray patch, string path, string field)
    {
        var mergeKey = MergeKey(path, field);
        if (patch.OfType<JsonObject>().Any(p => p.Str("$patch") == "replace"))
        {
            return new JsonArray(patch.OfType<JsonObject>().Where(p => p.Str("$patch") != "replace").Select(p => StripDirectives(p.Clone())).ToArray());
        }

        if (ScalarSet(field))
        {
            var union = original?.Select(e => e?.DeepClone()).ToList() ?? new List<JsonNode?>();
            foreach (var item in patch)
            {
                if (!union.Any(u => Json.Same(u, item)))
                {
                    union.Add(item?.DeepClone());
                }
            }

            return new JsonArray(union.ToArray());
        }

        if (mergeKey is null || original is null)
        {
            var items = patch.Where(p => p is not JsonObject po || po.Str("$patch") != "delete")
                .Select(p => p is JsonObject po ? StripDirectives(po.Clone()) : p?.DeepClone()).ToArray();
            return new JsonArray(items);
        }

        var result = original.Select(e => e?.DeepClone()).ToList();
        foreach (var item in patch)
        {
            if (item is not JsonObject itemPatch)
            {
                continue;
            }

            var keyValue = itemPatch[mergeKey];
            var index = result.FindIndex(e => e is JsonObject eo && Json.Same(eo[mergeKey], keyValue));
            if (itemPatch.Str("$patch") == "delete")
            {
                if (index >= 0)
                {
                    result.RemoveAt(index);
                }

                continue;
            }

            if (index >= 0)
            {
                result[index] = Strategic(result[index], itemPatch, path + "/" + field);
            }
            else
            {
                result.Add(StripDirectives(itemPatch.Clone()));
            }
        }

        return new JsonArray(result.ToArray());
    }

    private static JsonArray Reorder(JsonArray list, JsonArray order, string? mergeKey)
    {
        var items = list.Select(e => e?.DeepClone()).ToList();
        int Position(JsonNode? item)
        {
            for (var i = 0; i < order.Count; i++)
            {
                var wanted = mergeKey is not null && order[i] is JsonObject oo ? oo[mergeKey] : order[i];
                var actual = mergeKey is not null && item is JsonObject io ? io[mergeKey] : item;
                if (Json.Same(wanted, actual))
                {
                    return i;
                }
            }

            return int.MaxValue;
        }

        return new JsonArray(items.Select((item, index) => (item, index)).OrderBy(p => Position(p.item)).ThenBy(p => p.index).Select(p => p.item).ToArray());
    }

    private static JsonNode StripDirectives(JsonNode node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).Where(k => k.StartsWith('$')).ToList())
                {
                    o.Remove(key);
                }

                foreach (var key in o.Select(p => p.Key).ToList())
                {
                    if (o[key] is null)
                    {
                        o.Remove(key);
                    }
                    else
                    {
                        StripDirectives(o[key]!);
                    }
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    if (item is not null)
                    {
                        StripDirectives(item);
                    }
                }

                break;
        }

        return node;
    }
}
