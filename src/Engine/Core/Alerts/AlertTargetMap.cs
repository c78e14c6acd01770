namespace DeploymentRollback.Engine;

/// <summary>
/// Which target an alert is about (the signal's subject, a target key such as plan:checkout). Selectors of the form
/// label=value[,label=value...] are tried most specific first (the most conditions; then by their text, ordinal), so
/// the outcome does not depend on a hashtable's order; the first whose every condition matches wins. Label names
/// match in any case, values exactly. A target without a colon is a plan's name (checkout means plan:checkout).
/// Without a match, the default target applies; without one, the alert's rollback_target label, else plan:&lt;service&gt;.
/// </summary>
public sealed class AlertTargetMap
{
    public const string TargetLabel = "rollback_target";
    public const string ServiceLabel = "service";

    private readonly IReadOnlyList<(string Text, IReadOnlyList<(string Label, string Value)> Conditions, string Target)> rules;
    private readonly string? defaultTarget;

    /// <param name="defaultTarget">Where every alert that no selector picks goes (-TargetKey).</param>
    /// <param name="selectors">Selector and target pairs (-Map).</param>
    public AlertTargetMap(string? defaultTarget = null, IEnumerable<KeyValuePair<string, string>>? selectors = null)
    {
        this.defaultTarget = defaultTarget is null ? null : Target(defaultTarget, "-TargetKey");
        var parsed = new List<(string, IReadOnlyList<(string, string)>, string)>();
        foreach (var (selector, target) in selectors ?? Enumerable.Empty<KeyValuePair<string, string>>())
        {
            parsed.Add((selector.Trim(), Conditions(selector), Target(target, $"the -Map entry '{selector}'")));
        }

        rules = parsed.OrderByDescending(rule => rule.Item2.Count).ThenBy(rule => rule.Item1, StringComparer.Ordinal).ToList();
    }

    /// <summary>The alert's target key, or null when nothing maps it.</summary>
    public string? Resolve(InboundAlert alert)
    {
        foreach (var (_, conditions, target) in rules)
        {
            if (conditions.All(c => alert.Labels.TryGetValue(c.Label, out var value) && string.Equals(value, c.Value, StringComparison.Ordinal)))
            {
                return target;
            }
        }

        if (defaultTarget is not null)
        {
            return defaultTarget;
        }

        if (rules.Count == 0 && alert.Labels.TryGetValue(TargetLabel, out var named) && !string.IsNullOrWhiteSpace(named))
        {
            return Target(named, $"the alert's {TargetLabel} label");
        }

        return rules.Count == 0 && alert.Labels.TryGetValue(ServiceLabel, out var service) && !string.IsNullOrWhiteSpace(service)
            ? Target("plan:" + service.Trim(), $"the alert's {ServiceLabel} label")
            : null;
    }

    /// <summary>AlertTargetNotMapped for an alert nothing maps, naming its labels and how to map it.</summary>
    public RollbackException NotMapped(InboundAlert alert)
    {
        var labels = alert.Labels.Count == 0 ? "no labels"
            : "the labels " + string.Join(", ", alert.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Take(20).Select(l => $"{l.Key}={SecretRedactor.Redact(l.Value)}"));
        var how = rules.Count == 0
            ? $"Pass -TargetKey, or -Map @{{ 'service=checkout' = 'plan:checkout' }} with selectors made of these labels, or give the alert a {TargetLabel} or {ServiceLabel} label."
            : "No -Map selector matched them: add one made of these labels, or pass -TargetKey as well for the alerts no selector picks.";
        return new RollbackException(ErrorIds.AlertTargetNotMapped, RollbackErrorKind.ObjectNotFound,
            $"The {AlertPayload.Describe(alert.Source)} alert {alert.AlertName} ({alert.StatusText}) is about no known target: it has {labels}. {how}")
        {
            TargetName = alert.AlertName,
        };
    }

    private static IReadOnlyList<(string Label, string Value)> Conditions(string selector)
    {
        var conditions = new List<(string, string)>();
        foreach (var part in selector.Split(','))
        {
            var equals = part.IndexOf('=');
            var label = equals > 0 ? part[..equals].Trim() : "";
            var value = equals > 0 ? part[(equals + 1)..].Trim() : "";
            if (label.Length == 0 || value.Length == 0)
            {
                throw new RollbackException(ErrorIds.AlertMapInvalid, RollbackErrorKind.InvalidArgument,
                    $"The -Map selector '{selector}' is not label=value pairs. Write each key as label=value, several joined by commas, all of which must match: " +
                    "@{ 'service=checkout' = 'plan:checkout'; 'namespace=shop,deployment=web' = '<target key>' }.");
            }

            conditions.Add((label, value));
        }

        return conditions;
    }

    private static string Target(string target, string what)
    {
        var key = target.Trim();
        key = key.Contains(':') || key.Length == 0 ? key : "plan:" + key;
        try
        {
            SignalStore.ValidateSubject(key);
        }
        catch (RollbackException e)
        {
            throw new RollbackException(ErrorIds.AlertMapInvalid, RollbackErrorKind.InvalidArgument, $"The target of {what} cannot be used: {e.Message}", e);
        }

        return key;
    }
}
