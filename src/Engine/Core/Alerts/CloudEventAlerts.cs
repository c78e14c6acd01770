using System.Text;
using System.Text.Json;
using static DeploymentRollback.Engine.AlertPayload;

namespace DeploymentRollback.Engine;

/// <summary>
/// An alert sent as a CloudEvent over HTTP (CloudEvents 1.0 HTTP protocol binding): structured (the event as JSON,
/// application/cloudevents+json), batched (a JSON array of such events) or binary (the attributes in ce-* headers, the
/// body is the event's data). The event's data describes the alert: status, alertname, labels, annotations, summary,
/// severity; its extension attributes are labels too. An event whose type is io.deploymentrollback.signal.NAME asks
/// for that signal.
/// </summary>
internal static class CloudEventAlerts
{
    public const string SpecVersionHeader = "ce-specversion";
    public const string StructuredMediaType = "application/cloudevents+json";
    public const string BatchMediaType = "application/cloudevents-batch+json";
    private const string HeaderPrefix = "ce-";

    private static readonly HashSet<string> ContextAttributes = new(StringComparer.Ordinal)
    {
        "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64",
    };

    public static bool IsStructured(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("specversion", out _);

    public static IReadOnlyList<InboundAlert> FromStructured(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Invalid($"The CloudEvent is {Kind(root)} where a JSON object with specversion, id, source and type was expected (structured mode).");
        }

        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name is not ("data" or "data_base64") && AsText(property.Value) is { } text)
            {
                attributes[property.Name.ToLowerInvariant()] = text;
            }
        }

        var contentType = attributes.GetValueOrDefault("datacontenttype");
        if (Property(root, "data_base64") is { } encoded)
        {
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(AsText(encoded) ?? "");
            }
            catch (FormatException)
            {
                throw Invalid($"The CloudEvent {attributes.GetValueOrDefault("id")} has a data_base64 that is not Base64. Send the data as data, or encode it as Base64.");
            }

            return new[] { FromEvent(attributes, Encoding.UTF8.GetString(bytes), contentType) };
        }

        var data = Property(root, "data");
        if (data is { ValueKind: JsonValueKind.String } plain && !IsJson(contentType))
        {
            return new[] { FromEvent(attributes, plain.GetString(), contentType) };
        }

        return new[] { FromEvent(attributes, data is { } value ? value.GetRawText() : null, "application/json") };
    }

    public static IReadOnlyList<InboundAlert> FromBatch(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw Invalid($"The CloudEvents batch is {Kind(root)} where a JSON array of events was expected (application/cloudevents-batch+json).");
        }

        return root.EnumerateArray().SelectMany(FromStructured).ToList();
    }

    /// <summary>Binary mode: attributes in ce-* headers (percent-encoded, as the binding asks), the body is the data, Content-Type its type.</summary>
    public static IReadOnlyList<InboundAlert> FromBinary(string body, IReadOnlyDictionary<string, string> headers)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in headers)
        {
            if (name.StartsWith(HeaderPrefix, StringComparison.OrdinalIgnoreCase) && name.Length > HeaderPrefix.Length)
            {
                attributes[name[HeaderPrefix.Length..].ToLowerInvariant()] = Uri.UnescapeDataString(value.Trim());
            }
        }

        var contentType = headers.TryGetValue("Content-Type", out var type) ? type : null;
        return new[] { FromEvent(attributes, body.Length == 0 ? null : body, contentType) };
    }

    private static InboundAlert FromEvent(Dictionary<string, string> attributes, string? data, string? contentType)
    {
        var id = Required(attributes, "id");
        var eventType = Required(attributes, "type");
        Required(attributes, "source");
        var version = Required(attributes, "specversion");
        if (version != "1.0")
        {
            throw Invalid($"The CloudEvent {id} has specversion '{version}'; this command reads CloudEvents 1.0. Send specversion 1.0.");
        }

        var extensions = attributes.Where(a => !ContextAttributes.Contains(a.Key)).ToDictionary(a => a.Key, a => a.Value, StringComparer.OrdinalIgnoreCase);
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var labels = new Dictionary<string, string>(extensions, StringComparer.OrdinalIgnoreCase);
        var annotations = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? plain = null;
        if (data is not null && (IsJson(contentType) || LooksLikeJson(data)))
        {
            using var document = ReadJson(data, $"The data of the CloudEvent {id}");
            var element = document.RootElement;
            if (element.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array) && AsText(property.Value) is { } text)
                    {
                        fields[property.Name] = text;
                    }
                }

                labels = Merge(labels, TextMap(Property(element, "labels"), $"The data.labels of the CloudEvent {id}"));
                annotations = TextMap(Property(element, "annotations"), $"The data.annotations of the CloudEvent {id}");
            }
            else
            {
                plain = AsText(element);
            }
        }
        else
        {
            plain = data;
        }

        if (attributes.TryGetValue("subject", out var subject))
        {
            labels.TryAdd("subject", subject);
        }

        var status = StatusOf(FirstText(fields, "status", "state"), id);
        var name = FirstText(fields, "alertname", "alert_name", "alertName", "name") ?? FirstText(labels, "alertname") ?? subject ?? eventType;
        var requested = eventType.StartsWith(SignalStore.TypePrefix, StringComparison.Ordinal) ? eventType[SignalStore.TypePrefix.Length..] : null;
        var time = attributes.GetValueOrDefault("time");
        return new InboundAlert
        {
            Source = AlertSource.CloudEvents,
            Status = status,
            AlertName = name,
            GroupKey = extensions.GetValueOrDefault("groupkey") ?? id,
            Fingerprint = FirstText(fields, "fingerprint") ?? id,
            Labels = labels,
            Annotations = annotations,
            Summary = FirstText(fields, "summary", "message", "reason", "description") ?? FirstText(annotations, "summary", "description") ?? Shortened(plain),
            Severity = FirstText(fields, "severity") ?? FirstText(labels, "severity"),
            StartsAt = Time(FirstText(fields, "startsAt", "starts_at") ?? time),
            EndsAt = status == AlertStatus.Resolved ? Time(FirstText(fields, "endsAt", "ends_at") ?? time) : null,
            SignalName = SignalNameFor(name, labels, annotations, requested, classifier: eventType),
        };
    }

    private static string Required(Dictionary<string, string> attributes, string name) =>
        attributes.TryGetValue(name, out var value) && value.Length > 0 ? value
            : throw Invalid($"The CloudEvent has no {name} attribute. A CloudEvent needs specversion, id, source and type: in the JSON (structured mode) or as ce-{name} headers passed with -Header (binary mode).");

    private static AlertStatus StatusOf(string? status, string id) => status?.ToLowerInvariant() switch
    {
        null or "firing" or "fired" or "alerting" or "active" or "triggered" => AlertStatus.Firing,
        "resolved" or "ok" or "normal" or "inactive" => AlertStatus.Resolved,
        _ => throw Invalid($"The data of the CloudEvent {id} has the status '{status}', where 'firing' or 'resolved' was expected."),
    };

    private static bool IsJson(string? contentType)
    {
        var media = contentType?.Split(';', 2)[0].Trim().ToLowerInvariant();
        return media is "application/json" or "text/json" || media?.EndsWith("+json", StringComparison.Ordinal) == true;
    }

    private static bool LooksLikeJson(string data) => data.TrimStart() is { Length: > 0 } start && start[0] is '{' or '[';

    private static string? Shortened(string? text)
    {
        var line = text?.ReplaceLineEndings(" ").Trim();
        return string.IsNullOrEmpty(line) ? null : line.Length > 200 ? line[..200] + "..." : line;
    }
}
