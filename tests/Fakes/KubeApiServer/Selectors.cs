using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>Label selectors (=, ==, !=, in, notin, exists, !key, gt, lt) in the string form of the API.</summary>
public sealed class LabelSelector
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> requirements = new();

    public static readonly LabelSelector Everything = new();

    public bool Empty => requirements.Count == 0;

    public bool Matches(IReadOnlyDictionary<string, string> labels) => requirements.All(r => r(labels));

    public bool Matches(JsonObject obj) => Matches(Json.StringMap(Json.Walk(obj, "metadata", "labels")));

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var part in SplitTopLevel(text))
        {
            var term = part.Trim();
            if (term.Length == 0)
            {
                continue;
            }

            selector.requirements.Add(ParseTerm(term));
        }

        return selector;
    }

    /// <summary>A metav1.LabelSelector object (matchLabels, matchExpressions).</summary>
    public static LabelSelector FromObject(JsonNode? node)
    {
        var selector = new LabelSelector();
        if (node is not JsonObject o)
        {
            return selector;
        }

        foreach (var (key, value) in Json.StringMap(o["matchLabels"]))
        {
            selector.requirements.Add(l => l.TryGetValue(key, out var v) && v == value);
        }

        if (o["matchExpressions"] is JsonArray expressions)
        {
            foreach (var e in expressions.OfType<JsonObject>())
            {
                var key = e.Str("key") ?? "";
                var values = (e["values"] as JsonArray)?.Select(v => v?.GetValue<string>() ?? "").ToHashSet() ?? new HashSet<string>();
                selector.requirements.Add(e.Str("operator") switch
                {
                    "In" => l => l.TryGetValue(key, out var v) && values.Contains(v),
                    "NotIn" => l => !l.TryGetValue(key, out var v) || !values.Contains(v),
                    "Exists" => l => l.ContainsKey(key),
                    "DoesNotExist" => l => !l.ContainsKey(key),
                    _ => throw ApiException.BadRequest($"\"{e.Str("operator")}\" is not a valid label selector operator"),
                });
            }
        }

        return selector;
    }

    /// <summary>The string form, as Deployment status.selector and Scale status.selector carry it.</summary>
    public static string ToText(JsonNode? node)
    {
        if (node is not JsonObject o)
        {
            return "";
        }

        var parts = new List<string>();
        foreach (var (key, value) in Json.StringMap(o["matchLabels"]).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            parts.Add(key + "=" + value);
        }

        if (o["matchExpressions"] is JsonArray expressions)
        {
            foreach (var e in expressions.OfType<JsonObject>())
            {
                var key = e.Str("key") ?? "";
                var values = string.Join(",", (e["values"] as JsonArray)?.Select(v => v?.GetValue<string>()).Order(StringComparer.Ordinal) ?? Enumerable.Empty<string?>());
                parts.Add(e.Str("operator") switch
                {
                    "In" => $"{key} in ({values})",
                    "NotIn" => $"{key} notin ({values})",
                    "Exists" => key,
                    _ => "!" + key,
                });
            }
        }

        return string.Join(",", parts);
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    yield return text[start..i];
                    start = i + 1;
                    break;
            }
        }

        yield return text[start..];
    }

    private static Func<IReadOnlyDictionary<string, string>, bool> ParseTerm(string term)
    {
        if (term.StartsWith('!'))
        {
            var key = term[1..].Trim();
            return l => !l.ContainsKey(key);
        }

        foreach (var (op, negate) in new[] { (" notin ", true), (" in ", false) })
        {
            var at = term.IndexOf(op, StringComparison.Ordinal);
            if (at > 0)
            {
                var key = term[..at].Trim();
                var rest = term[(at + op.Length)..].Trim();
                if (!rest.StartsWith('(') || !rest.EndsWith(')'))
                {
                    throw ApiException.BadRequest($"unable to parse requirement: found '{rest}', expected: '('");
                }

                var values = rest[1..^1].Split(',').Select(v => v.Trim()).Where(v => v.Length > 0).ToHashSet();
                return negate
                    ? l => !l.TryGetValue(key, out var v) || !values.Contains(v)
                    : l => l.TryGetValue(key, out var v) && values.Contains(v);
            }
        }

        foreach (var op in new[] { "!=", "==", "=", ">", "<" })
        {
            var at = term.IndexOf(op, StringComparison.Ordinal);
            if (at > 0)
            {
                var key = term[..at].Trim();
                var value = term[(at + op.Length)..].Trim();
                return op switch
                {
                    "!=" => l => !l.TryGetValue(key, out var v) || v != value,
                    ">" => l => l.TryGetValue(key, out var v) && long.TryParse(v, out var n) && long.TryParse(value, out var m) && n > m,
                    "<" => l => l.TryGetValue(key, out var v) && long.TryParse(v, out var n) && long.TryParse(value, out var m) && n < m,
                    _ => l => l.TryGetValue(key, out var v) && v == value,
                };
            }
        }

        var exists = term.Trim();
        if (exists.Contains(' '))
        {
            throw ApiException.BadRequest($"unable to parse requirement: found '{exists}', expected: ',', '=', '==', '!=', 'in', 'notin'");
        }

        return l => l.ContainsKey(exists);
    }
}

/// <summary>Field selectors (=, ==, !=) over the fields each resource supports.</summary>
public sealed class FieldSelector
{
    private readonly List<(string Field, string Value, bool Negate)> terms = new();

    public static FieldSelector Parse(string? text, ResourceType type)
    {
        var selector = new FieldSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var raw in text.Split(','))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                continue;
            }

            string field, value;
            var negate = false;
            int at;
            if ((at = term.IndexOf("!=", StringComparison.Ordinal)) > 0)
            {
                negate = true;
                field = term[..at];
                value = term[(at + 2)..];
            }
            else if ((at = term.IndexOf("==", StringComparison.Ordinal)) > 0)
            {
                field = term[..at];
                value = term[(at + 2)..];
            }
            else if ((at = term.IndexOf('=')) > 0)
            {
                field = term[..at];
                value = term[(at + 1)..];
            }
            else
            {
                throw ApiException.BadRequest($"invalid selector: '{text}'; can't understand '{term}'");
            }

            field = field.Trim();
            if (!Supported(type, field))
            {
                throw ApiException.BadRequest($"field label not supported: {field}");
            }

            selector.terms.Add((field, value.Trim(), negate));
        }

        return selector;
    }

    public bool Empty => terms.Count == 0;

    /// <summary>The metadata.name the selector pins, if any (kubectl's single-object watches).</summary>
    public string? PinnedName => terms.FirstOrDefault(t => t.Field == "metadata.name" && !t.Negate).Value;

    public bool Matches(JsonObject obj) => terms.All(t => (Value(obj, t.Field) == t.Value) != t.Negate);

    private static bool Supported(ResourceType type, string field)
    {
        if (field is "metadata.name" or "metadata.namespace")
        {
            return true;
        }

        if (type == Catalog.Events)
        {
            return field is "involvedObject.kind" or "involvedObject.namespace" or "involvedObject.name" or "involvedObject.uid"
                or "involvedObject.apiVersion" or "involvedObject.resourceVersion" or "involvedObject.fieldPath"
                or "reason" or "reportingComponent" or "source" or "type";
        }

        if (type == Catalog.Pods)
        {
            return field is "spec.nodeName" or "spec.restartPolicy" or "spec.schedulerName" or "spec.serviceAccountName"
                or "spec.hostNetwork" or "status.phase" or "status.podIP" or "status.nominatedNodeName";
        }

        if (type == Catalog.ReplicaSets)
        {
            return field == "status.replicas";
        }

        if (type == Catalog.Secrets)
        {
            return field == "type";
        }

        if (type == Catalog.Namespaces)
        {
            return field == "status.phase";
        }

        return false;
    }

    private static string Value(JsonObject obj, string field)
    {
        if (field == "source")
        {
            return obj.Str("source", "component") ?? obj.Str("reportingComponent") ?? "";
        }

        if (field == "spec.hostNetwork")
        {
            return (obj.Bool("spec", "hostNetwork") ?? false) ? "true" : "false";
        }

        if (field == "status.replicas")
        {
            return (obj.Long("status", "replicas") ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (field == "metadata.namespace")
        {
            return obj.Namespace() ?? "";
        }

        return obj.Str(field.Split('.')) ?? "";
    }
}
