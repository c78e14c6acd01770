using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>
/// Reads an inbound alert payload (the request body and its headers, as an HTTP receiver gets them) into alerts.
/// The format is told from the payload itself: Azure Monitor's common alert schema, Prometheus Alertmanager's webhook,
/// Grafana alerting's webhook, or a CloudEvent (structured, batched or binary). Pure: it reads nothing else and keeps
/// no state, so a runbook and a listener share it.
/// </summary>
public static partial class AlertPayload
{
    /// <summary>Larger bodies are refused before they are read (Azure Monitor's own limit is 256 KB an alert).</summary>
    public const int MaxBodyBytes = 8 * 1024 * 1024;

    /// <summary>Deeper JSON is refused: no alert format nests half as deep.</summary>
    public const int MaxDepth = 64;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth };
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // The labels whose values classify an alert (category=deployment), unlike those that name an object (deployment=web).
    private static readonly string[] ClassifyingLabels = { "category", "type", "event", "reason", "failure_type", "stage" };

    [GeneratedRegex(@"deploy|roll[-_ ]?out", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DeploymentWords();

    /// <summary>The alerts in a body received as bytes (UTF-8), with the request's headers (names in any case).</summary>
    public static IReadOnlyList<InboundAlert> Parse(ReadOnlyMemory<byte> body, IReadOnlyDictionary<string, string>? headers = null)
    {
        if (body.Length > MaxBodyBytes)
        {
            throw TooLarge(body.Length);
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(body.Span);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid("The payload is not UTF-8 text. Alert senders post JSON in UTF-8; check that the request body reaches this command unchanged.");
        }

        return Parse(text, headers);
    }

    /// <summary>The alerts in a body received as text, with the request's headers (names in any case; ce-* for a binary CloudEvent, Content-Type).</summary>
    public static IReadOnlyList<InboundAlert> Parse(string body, IReadOnlyDictionary<string, string>? headers = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        var lookup = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            lookup[name.Trim()] = value;
        }

        if (body.Length > MaxBodyBytes)
        {
            throw TooLarge(Encoding.UTF8.GetByteCount(body));
        }

        if (lookup.ContainsKey(CloudEventAlerts.SpecVersionHeader))
        {
            return CloudEventAlerts.FromBinary(body, lookup);
        }

        var text = body.Trim().TrimStart('\uFEFF');
        if (text.Length == 0)
        {
            throw Invalid("The alert payload is empty. Pass the request body (the JSON the alert sender posted), for example $WebhookData.RequestBody or the text of a saved payload file.");
        }

        using var document = ReadJson(text, "The alert payload");
        var root = document.RootElement;
        var mediaType = MediaType(lookup);
        if (mediaType == CloudEventAlerts.BatchMediaType || (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0 && root.EnumerateArray().All(CloudEventAlerts.IsStructured)))
        {
            return CloudEventAlerts.FromBatch(root);
        }

        if (mediaType == CloudEventAlerts.StructuredMediaType || CloudEventAlerts.IsStructured(root))
        {
            return CloudEventAlerts.FromStructured(root);
        }

        if (root.ValueKind == JsonValueKind.Object)
        {
            if (Text(root, "schemaId") is { } schema)
            {
                return schema == AzureMonitorAlerts.CommonSchemaId ? AzureMonitorAlerts.Read(root) : throw AzureMonitorAlerts.OtherSchema(schema);
            }

            if (PrometheusAlerts.IsGrafana(root))
            {
                return PrometheusAlerts.Read(root, AlertSource.Grafana);
            }

            if (PrometheusAlerts.IsAlertmanager(root))
            {
                return PrometheusAlerts.Read(root, AlertSource.Alertmanager);
            }
        }

        throw Unknown(root);
    }

    /// <summary>How a source is named to people.</summary>
    public static string Describe(AlertSource source) => source switch
    {
        AlertSource.AzureMonitor => "Azure Monitor",
        AlertSource.Alertmanager => "Alertmanager",
        AlertSource.Grafana => "Grafana",
        _ => "CloudEvent",
    };

    /// <summary>Parsed JSON, or AlertPayloadInvalid saying where it stops being JSON.</summary>
    internal static JsonDocument ReadJson(string text, string what)
    {
        try
        {
            return JsonDocument.Parse(text, DocumentOptions);
        }
        catch (JsonException e)
        {
            var problem = e.Message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0].TrimEnd('.', ' ');
            var where = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw Invalid($"{what} is not valid JSON{where}: {problem}. Pass the body exactly as the sender posted it.", e);
        }
    }

    /// <summary>
    /// The signal an alert becomes: a signal label or annotation (or a CloudEvent type naming a signal) says so; else an
    /// alert whose name or classifying labels speak of a deployment or rollout is DEPLOYMENT_FAILED, any other HEALTH_CHECK_FAILED.
    /// </summary>
    internal static string SignalNameFor(string alertName, IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<string, string> annotations, string? requested = null, string? classifier = null)
    {
        var asked = requested ?? (labels.TryGetValue("signal", out var label) ? label : annotations.TryGetValue("signal", out var annotation) ? annotation : null);
        if (asked is not null)
        {
            var name = asked.Trim().Replace('-', '_').Replace(' ', '_').ToUpperInvariant();
            try
            {
                SignalStore.ValidateName(name);
            }
            catch (RollbackException)
            {
                throw Invalid($"The alert {alertName} asks for the signal '{asked}', which is not a signal name. Set its signal label to a name such as {SignalNames.DeploymentFailed} or {SignalNames.HealthCheckFailed}, or pass -SignalName.");
            }

            return name;
        }

        var words = DeploymentWords();
        var deployment = words.IsMatch(alertName)
            || (classifier is not null && words.IsMatch(classifier))
            || ClassifyingLabels.Any(key => labels.TryGetValue(key, out var value) && words.IsMatch(value));
        return deployment ? SignalNames.DeploymentFailed : SignalNames.HealthCheckFailed;
    }

    /// <summary>A property by name (exact, else in any case), or null; JSON null counts as absent.</summary>
    internal static JsonElement? Property(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (element.TryGetProperty(name, out var exact))
        {
            return exact.ValueKind == JsonValueKind.Null ? null : exact;
        }

        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value.ValueKind == JsonValueKind.Null ? null : property.Value;
            }
        }

        return null;
    }

    /// <summary>A property as text: strings as they are, numbers and Booleans as written, objects and arrays as their JSON.</summary>
    internal static string? Text(JsonElement element, string name) => Property(element, name) is { } value ? AsText(value) : null;

    internal static string? AsText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => value.GetRawText(),
    };

    /// <summary>A JSON object of names and values as a map of texts (labels, annotations, custom properties).</summary>
    internal static Dictionary<string, string> TextMap(JsonElement? element, string what)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (element is not { } value)
        {
            return map;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid($"{what} is {Kind(value)} where a JSON object of names and values was expected.");
        }

        foreach (var property in value.EnumerateObject())
        {
            if (AsText(property.Value) is { } text)
            {
                map[property.Name] = text;
            }
        }

        return map;
    }

    /// <summary>Both maps; the second wins where they share a name.</summary>
    internal static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> first, IReadOnlyDictionary<string, string> second)
    {
        var merged = new Dictionary<string, string>(first, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in second)
        {
            merged[name] = value;
        }

        return merged;
    }

    /// <summary>A time as senders write it; Go's zero time (an Alertmanager alert that has not ended) is no time.</summary>
    internal static DateTimeOffset? Time(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) && time.Year > 1 ? time : null;

    internal static string? FirstText(IReadOnlyDictionary<string, string> map, params string[] names) =>
        names.Select(name => map.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null).FirstOrDefault(value => value is not null);

    internal static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a Boolean",
        _ => "null",
    };

    internal static RollbackException Invalid(string message, Exception? inner = null) =>
        new(ErrorIds.AlertPayloadInvalid, RollbackErrorKind.InvalidArgument, message, inner);

    private static RollbackException TooLarge(int bytes) =>
        Invalid($"The alert payload has {bytes / 1024} KiB, more than the {MaxBodyBytes / 1024 / 1024} MiB this command reads. Alert senders post far less; check that the body is one alert notification.");

    private static RollbackException Unknown(JsonElement root)
    {
        var fields = root.ValueKind == JsonValueKind.Object
            ? "its top-level fields are " + string.Join(", ", root.EnumerateObject().Select(p => p.Name).Take(12)) + (root.EnumerateObject().Count() > 12 ? ", ..." : "")
            : "it is " + Kind(root);
        return new RollbackException(ErrorIds.AlertFormatUnknown, RollbackErrorKind.InvalidArgument,
            $"The payload is JSON but no alert format this command reads ({fields}). Expected Azure Monitor's common alert schema (schemaId " +
            $"'{AzureMonitorAlerts.CommonSchemaId}'), Prometheus Alertmanager's webhook (version 4, groupKey and alerts), Grafana alerting's webhook " +
            "(orgId, state and alerts), or a CloudEvent (specversion, or ce-* headers passed with -Header). Point the sender's webhook at this payload format, " +
            "or wrap the alert in a CloudEvent.");
    }

    private static string? MediaType(IReadOnlyDictionary<string, string> headers) =>
        headers.TryGetValue("Content-Type", out var contentType) ? contentType.Split(';', 2)[0].Trim().ToLowerInvariant() : null;
}
