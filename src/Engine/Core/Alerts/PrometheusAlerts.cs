using System.Text.Json;
using static DeploymentRollback.Engine.AlertPayload;

namespace DeploymentRollback.Engine;

/// <summary>
/// Prometheus Alertmanager's webhook (version 4) and Grafana alerting's webhook, which took Alertmanager's shape and
/// added its own fields: a group of alerts, each with labels, annotations, a status and a fingerprint, plus the
/// labels and annotations the whole group shares.
/// </summary>
internal static class PrometheusAlerts
{
    // Fields only Grafana writes: at the top, and on each alert.
    private static readonly string[] GrafanaFields = { "orgId", "title", "state" };
    private static readonly string[] GrafanaAlertFields = { "valueString", "values", "dashboardURL", "panelURL", "silenceURL" };

    public static bool IsGrafana(JsonElement root) =>
        Alerts(root) is { } alerts
        && (GrafanaFields.Any(field => root.TryGetProperty(field, out _))
            || alerts.EnumerateArray().Any(alert => alert.ValueKind == JsonValueKind.Object && GrafanaAlertFields.Any(field => alert.TryGetProperty(field, out _))));

    public static bool IsAlertmanager(JsonElement root) =>
        Alerts(root) is not null && Text(root, "version") == "4" && root.TryGetProperty("groupKey", out _);

    public static IReadOnlyList<InboundAlert> Read(JsonElement root, AlertSource source)
    {
        var format = Describe(source);
        var groupKey = Text(root, "groupKey");
        var commonLabels = TextMap(Property(root, "commonLabels"), $"The {format} payload's commonLabels");
        var commonAnnotations = TextMap(Property(root, "commonAnnotations"), $"The {format} payload's commonAnnotations");
        var groupStatus = Text(root, "status");
        var alerts = new List<InboundAlert>();
        var index = 0;
        foreach (var alert in Alerts(root)!.Value.EnumerateArray())
        {
            var where = $"alerts[{index++}]";
            if (alert.ValueKind != JsonValueKind.Object)
            {
                throw Invalid($"The {format} payload's {where} is {Kind(alert)} where an alert object was expected.");
            }

            var labels = Merge(commonLabels, TextMap(Property(alert, "labels"), $"The {format} payload's {where}.labels"));
            var annotations = Merge(commonAnnotations, TextMap(Property(alert, "annotations"), $"The {format} payload's {where}.annotations"));
            var status = StatusOf(Text(alert, "status") ?? groupStatus, format, where);
            var name = FirstText(labels, "alertname") ?? Text(root, "title") ?? "unnamed";
            alerts.Add(new InboundAlert
            {
                Source = source,
                Status = status,
                AlertName = name,
                GroupKey = groupKey,
                Fingerprint = Text(alert, "fingerprint"),
                Labels = labels,
                Annotations = annotations,
                Summary = FirstText(annotations, "summary", "description", "message") ?? Text(alert, "valueString"),
                Severity = FirstText(labels, "severity"),
                StartsAt = Time(Text(alert, "startsAt")),
                EndsAt = status == AlertStatus.Resolved ? Time(Text(alert, "endsAt")) : null,
                SignalName = SignalNameFor(name, labels, annotations),
            });
        }

        return alerts;
    }

    private static JsonElement? Alerts(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("alerts", out var alerts) && alerts.ValueKind == JsonValueKind.Array ? alerts : null;

    private static AlertStatus StatusOf(string? status, string format, string where) => status?.ToLowerInvariant() switch
    {
        "firing" => AlertStatus.Firing,
        "resolved" => AlertStatus.Resolved,
        null => throw Invalid($"The {format} payload's {where} has no status, where 'firing' or 'resolved' was expected."),
        _ => throw Invalid($"The {format} payload's {where} has the status '{status}', where 'firing' or 'resolved' was expected."),
    };
}
