using System.Text.Json;
using static DeploymentRollback.Engine.AlertPayload;

namespace DeploymentRollback.Engine;

/// <summary>
/// Azure Monitor's common alert schema: one alert a payload, its essentials (rule, severity, condition, targets, times)
/// and a context that depends on the signal type (metric, log, activity log). The essentials, the resource the alert
/// is about, the dimensions of its condition and the rule's custom properties become labels, so a mapping can pick
/// the target by any of them.
/// </summary>
internal static class AzureMonitorAlerts
{
    public const string CommonSchemaId = "azureMonitorCommonAlertSchema";

    public static IReadOnlyList<InboundAlert> Read(JsonElement root)
    {
        var data = Property(root, "data") is { ValueKind: JsonValueKind.Object } value ? value
            : throw Invalid("The Azure Monitor payload has no data object. The common alert schema puts the alert in data.essentials and data.alertContext; post the body as the action group sent it.");
        var essentials = Property(data, "essentials") is { ValueKind: JsonValueKind.Object } found ? found
            : throw Invalid("The Azure Monitor payload has no data.essentials object. The common alert schema puts the alert rule, severity and monitor condition there; post the body as the action group sent it.");
        var rule = Text(essentials, "alertRule") is { Length: > 0 } named ? named
            : throw Invalid("The Azure Monitor payload's data.essentials has no alertRule. Post the body as the action group sent it.");
        var condition = Text(essentials, "monitorCondition");
        var status = condition?.ToLowerInvariant() switch
        {
            "fired" or "activated" => AlertStatus.Firing,
            "resolved" or "deactivated" => AlertStatus.Resolved,
            _ => throw Invalid($"The Azure Monitor alert {rule} has the monitorCondition '{condition}', where 'Fired' or 'Resolved' was expected."),
        };

        var context = Property(data, "alertContext");
        var labels = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["alertname"] = rule, ["alertRule"] = rule };
        foreach (var field in new[] { "severity", "signalType", "monitoringService", "targetResourceType", "targetResourceGroup" })
        {
            if (Text(essentials, field) is { Length: > 0 } text)
            {
                labels[field] = text;
            }
        }

        AddResource(labels, essentials);
        foreach (var (name, dimension) in Dimensions(context))
        {
            labels.TryAdd(name, dimension);
        }

        // What the rule's owner set (the rule's custom properties, the action group's) says more than what was derived.
        foreach (var (name, custom) in Merge(TextMap(context is { } c ? Property(c, "properties") : null, "The Azure Monitor alert's alertContext.properties"),
                     TextMap(Property(data, "customProperties"), "The Azure Monitor payload's data.customProperties")))
        {
            labels[name] = custom;
        }

        var annotations = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (Text(essentials, "description") is { Length: > 0 } description)
        {
            annotations["description"] = description;
        }

        if (ConditionText(context) is { } conditionText)
        {
            annotations["condition"] = conditionText;
        }

        var alertId = Text(essentials, "alertId");
        return new[]
        {
            new InboundAlert
            {
                Source = AlertSource.AzureMonitor,
                Status = status,
                AlertName = rule,
                GroupKey = alertId,
                Fingerprint = alertId,
                Labels = labels,
                Annotations = annotations,
                Summary = FirstText(annotations, "description", "condition"),
                Severity = Text(essentials, "severity"),
                StartsAt = Time(Text(essentials, "firedDateTime")),
                EndsAt = status == AlertStatus.Resolved ? Time(Text(essentials, "resolvedDateTime")) : null,
                SignalName = SignalNameFor(rule, labels, annotations),
            },
        };
    }

    /// <summary>Azure's other webhook schemas are not read: the action group must send the common one.</summary>
    public static RollbackException OtherSchema(string schema) => new(ErrorIds.AlertFormatUnknown, RollbackErrorKind.InvalidArgument,
        $"The payload has the schemaId '{schema}', which this command does not read. Turn on 'Enable the common alert schema' for the webhook or " +
        $"Automation Runbook action of the alert's action group, so it sends schemaId '{CommonSchemaId}'.");

    /// <summary>The first target: its name (the first configuration item, else the resource id's last part), id, group and subscription.</summary>
    private static void AddResource(Dictionary<string, string> labels, JsonElement essentials)
    {
        var target = First(Property(essentials, "alertTargetIDs"));
        var item = First(Property(essentials, "configurationItems"));
        var parts = target?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? Array.Empty<string>();
        if (target is not null)
        {
            labels["resource_id"] = target;
        }

        if ((item ?? parts.LastOrDefault()) is { } name)
        {
            labels["resource"] = name;
        }

        for (var i = 0; i + 1 < parts.Length; i++)
        {
            if (parts[i].Equals("subscriptions", StringComparison.OrdinalIgnoreCase))
            {
                labels["subscription_id"] = parts[i + 1];
            }
            else if (parts[i].Equals("resourceGroups", StringComparison.OrdinalIgnoreCase))
            {
                labels["resource_group"] = parts[i + 1];
            }
        }
    }

    private static string? First(JsonElement? list) =>
        list is { ValueKind: JsonValueKind.Array } array && array.GetArrayLength() > 0 ? AsText(array[0]) : null;

    /// <summary>The name and value pairs of a metric or log alert's dimensions (condition.allOf[].dimensions, or a log alert's Dimensions).</summary>
    private static IEnumerable<(string Name, string Value)> Dimensions(JsonElement? context)
    {
        if (context is not { ValueKind: JsonValueKind.Object } found)
        {
            yield break;
        }

        var lists = Criteria(found).Select(criterion => Property(criterion, "dimensions")).Append(Property(found, "Dimensions"));
        foreach (var list in lists)
        {
            if (list is not { ValueKind: JsonValueKind.Array } array)
            {
                continue;
            }

            foreach (var dimension in array.EnumerateArray())
            {
                if (Text(dimension, "name") is { Length: > 0 } name && Text(dimension, "value") is { } value)
                {
                    yield return (name, value);
                }
            }
        }
    }

    private static IEnumerable<JsonElement> Criteria(JsonElement context) =>
        Property(context, "condition") is { } condition && Property(condition, "allOf") is { ValueKind: JsonValueKind.Array } allOf
            ? allOf.EnumerateArray().Where(c => c.ValueKind == JsonValueKind.Object)
            : Enumerable.Empty<JsonElement>();

    /// <summary>What tripped the rule, in one line: a metric or log query against its threshold, or an activity log operation.</summary>
    private static string? ConditionText(JsonElement? context)
    {
        if (context is not { ValueKind: JsonValueKind.Object } found)
        {
            return null;
        }

        var criteria = Criteria(found).Select(criterion =>
        {
            var subject = Text(criterion, "metricName") ?? (Text(criterion, "searchQuery") is not null ? "log query result" : "value");
            var value = Text(criterion, "metricValue");
            return $"{subject} {Text(criterion, "operator")} {Text(criterion, "threshold")}" + (value is null ? "" : $" (value {value})");
        }).ToList();
        if (criteria.Count > 0)
        {
            return string.Join("; ", criteria);
        }

        if (Text(found, "SearchQuery") is not null)
        {
            return $"log query results {Text(found, "ResultCount")} {Text(found, "Operator")} {Text(found, "Threshold")}".TrimEnd();
        }

        return Text(found, "operationName") is { } operation ? $"{operation} {Text(found, "status")}".TrimEnd() : null;
    }
}
