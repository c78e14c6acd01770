using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>JSON helpers: navigation, Go-compatible encoding (sorted keys, Go escaping) and Kubernetes time formats.</summary>
public static class Json
{
    public static JsonObject Parse(string text) =>
        JsonNode.Parse(text) as JsonObject ?? throw new ApiException(400, "BadRequest", "the request body is not a JSON object");

    public static JsonObject Clone(this JsonObject value) => (JsonObject)value.DeepClone();

    public static bool Same(JsonNode? a, JsonNode? b) => JsonNode.DeepEquals(a, b);

    public static JsonObject Obj(this JsonObject parent, string name)
    {
        if (parent[name] is JsonObject existing)
        {
            return existing;
        }

        var created = new JsonObject();
        parent[name] = created;
        return created;
    }

    public static JsonArray Arr(this JsonObject parent, string name)
    {
        if (parent[name] is JsonArray existing)
        {
            return existing;
        }

        var created = new JsonArray();
        parent[name] = created;
        return created;
    }

    public static string? Str(this JsonNode? node, params string[] path)
    {
        var current = Walk(node, path);
        return current is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
    }

    public static long? Long(this JsonNode? node, params string[] path)
    {
        var current = Walk(node, path);
        if (current is JsonValue value)
        {
            if (value.TryGetValue<long>(out var l))
            {
                return l;
            }

            if (value.TryGetValue<int>(out var i))
            {
                return i;
            }

            if (value.TryGetValue<double>(out var d))
            {
                return (long)d;
            }

            if (value.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var el))
            {
                return el;
            }
        }

        return null;
    }

    public static bool? Bool(this JsonNode? node, params string[] path)
    {
        var current = Walk(node, path);
        return current is JsonValue value && value.TryGetValue<bool>(out var b) ? b : null;
    }

    public static JsonNode? Walk(JsonNode? node, params string[] path)
    {
        var current = node;
        foreach (var part in path)
        {
            current = current is JsonObject o ? o[part] : null;
            if (current is null)
            {
                return null;
            }
        }

        return current;
    }

    public static JsonObject Meta(this JsonObject obj) => obj.Obj("metadata");

    public static string Name(this JsonObject obj) => obj.Str("metadata", "name") ?? "";

    public static string? Namespace(this JsonObject obj) => obj.Str("metadata", "namespace");

    public static string Uid(this JsonObject obj) => obj.Str("metadata", "uid") ?? "";

    public static JsonObject Labels(this JsonObject obj) => obj.Meta().Obj("labels");

    public static JsonObject Annotations(this JsonObject obj) => obj.Meta().Obj("annotations");

    public static Dictionary<string, string> StringMap(JsonNode? node)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is JsonObject o)
        {
            foreach (var (k, v) in o)
            {
                if (v is JsonValue value && value.TryGetValue<string>(out var s))
                {
                    map[k] = s;
                }
            }
        }

        return map;
    }

    /// <summary>Removes empty labels/annotations maps so that objects print as the real server prints them.</summary>
    public static void TidyMeta(JsonObject obj)
    {
        if (obj["metadata"] is not JsonObject meta)
        {
            return;
        }

        foreach (var key in new[] { "labels", "annotations", "ownerReferences", "finalizers" })
        {
            if (meta[key] is JsonObject { Count: 0 } or JsonArray { Count: 0 })
            {
                meta.Remove(key);
            }
        }
    }

    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string MicroTime(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset? ParseTime(string? text) =>
        text is not null && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at) ? at : null;

    /// <summary>Serialises the way Go's encoding/json writes a map[string]interface{}: keys sorted, HTML characters escaped.</summary>
    public static string GoJson(JsonNode? node)
    {
        var builder = new StringBuilder();
        WriteGo(builder, node, sortKeys: true);
        return builder.ToString();
    }

    /// <summary>Serialises compactly, keeping key order, with Go's escaping.</summary>
    public static string Compact(JsonNode? node)
    {
        var builder = new StringBuilder();
        WriteGo(builder, node, sortKeys: false);
        return builder.ToString();
    }

    private static void WriteGo(StringBuilder builder, JsonNode? node, bool sortKeys)
    {
        switch (node)
        {
            case null:
                builder.Append("null");
                break;
            case JsonObject o:
            {
                builder.Append('{');
                var first = true;
                IEnumerable<KeyValuePair<string, JsonNode?>> entries = sortKeys ? o.OrderBy(p => p.Key, StringComparer.Ordinal) : o;
                foreach (var (key, value) in entries)
                {
                    if (!first)
                    {
                        builder.Append(',');
                    }

                    first = false;
                    WriteString(builder, key);
                    builder.Append(':');
                    WriteGo(builder, value, sortKeys);
                }

                builder.Append('}');
                break;
            }
            case JsonArray a:
            {
                builder.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(',');
                    }

                    WriteGo(builder, a[i], sortKeys);
                }

                builder.Append(']');
                break;
            }
            case JsonValue v:
            {
                var element = v.GetValueKind();
                switch (element)
                {
                    case JsonValueKind.String:
                        WriteString(builder, v.TryGetValue<string>(out var text) ? text : v.GetValue<JsonElement>().GetString()!);
                        break;
                    case JsonValueKind.True:
                        builder.Append("true");
                        break;
                    case JsonValueKind.False:
                        builder.Append("false");
                        break;
                    case JsonValueKind.Null:
                        builder.Append("null");
                        break;
                    default:
                        builder.Append(v.ToJsonString());
                        break;
                }

                break;
            }
        }
    }

    private static void WriteString(StringBuilder builder, string text)
    {
        builder.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\r':
                    builder.Append("\\r");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                case '<':
                case '>':
                case '&':
                case '\u2028':
                case '\u2029':
                    builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    if (c < 0x20)
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
    }

    /// <summary>FNV-1 32-bit (Go's hash/fnv New32), as the controllers use for ControllerRevision names.</summary>
    public static uint Fnv1(byte[] data)
    {
        uint hash = 2166136261;
        foreach (var b in data)
        {
            hash *= 16777619;
            hash ^= b;
        }

        return hash;
    }

    /// <summary>FNV-1a 32-bit (Go's hash/fnv New32a), as the deployment controller uses for pod-template-hash.</summary>
    public static uint Fnv1a(byte[] data)
    {
        uint hash = 2166136261;
        foreach (var b in data)
        {
            hash ^= b;
            hash *= 16777619;
        }

        return hash;
    }

    private const string SafeAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    /// <summary>k8s.io/apimachinery rand.SafeEncodeString: maps each byte onto an alphabet without vowels.</summary>
    public static string SafeEncode(string text)
    {
        var chars = new char[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            chars[i] = SafeAlphabet[text[i] % SafeAlphabet.Length];
        }

        return new string(chars);
    }

    public static string RandomSuffix(int length = 5)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = SafeAlphabet[Random.Shared.Next(SafeAlphabet.Length)];
        }

        return new string(chars);
    }
}
