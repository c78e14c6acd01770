using System.Net.Mail;

namespace DeploymentRollback.Engine;

public enum NotifyKind
{
    Teams,
    Slack,
    Webhook,
    Email,
}

/// <summary>
/// Where people are told of a rollback: a Microsoft Teams workflow webhook, a Slack incoming webhook, a generic JSON
/// webhook, or email over SMTP (smtp:// or smtps://host:port/?to=a@example.com&amp;from=b@example.com). The kind is
/// read from the host (hooks.slack.com; *.logic.azure.com, *.powerplatform.com, *.webhook.office.com) or from a
/// teams+, slack+ or webhook+ scheme prefix. Webhook addresses carry their secret in the path or query, so only
/// Display is ever shown or written.
/// </summary>
public sealed record NotifyTarget(NotifyKind Kind, Uri Uri)
{
    /// <summary>The environment variable a runbook sets once for every command: addresses separated by ';' or spaces.</summary>
    public const string DefaultVariable = "DEPLOYMENT_ROLLBACK_NOTIFY";

    /// <summary>The kind and host alone: a webhook's path and query and a mail account's password are secrets.</summary>
    public string Display => Kind == NotifyKind.Email
        ? $"email via {Uri.Host}:{Uri.Port} to {string.Join(", ", Recipients)}"
        : $"{Kind.ToString().ToLowerInvariant()} {Uri.Scheme}://{Uri.Authority}/...";

    public IReadOnlyList<string> Recipients => Query("to").SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    public string From => Query("from").FirstOrDefault() ?? "deployment-rollback@" + Environment.MachineName.ToLowerInvariant();

    public static NotifyTarget Parse(string text)
    {
        var raw = text.Trim();
        var explicitKind = (NotifyKind?)null;
        foreach (var (prefix, kind) in new[] { ("teams+", NotifyKind.Teams), ("slack+", NotifyKind.Slack), ("webhook+", NotifyKind.Webhook) })
        {
            if (raw.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                (raw, explicitKind) = (raw[prefix.Length..], kind);
            }
        }

        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "smtp" or "smtps") || uri.Host.Length == 0)
        {
            throw Invalid(text, "it is not an http(s):// webhook address or an smtp(s):// mail server");
        }

        if (uri.Scheme is "smtp" or "smtps")
        {
            var target = new NotifyTarget(NotifyKind.Email, uri);
            if (target.Recipients.Count == 0 || target.Recipients.Any(r => !MailAddress.TryCreate(r, out _)) || !MailAddress.TryCreate(target.From, out _))
            {
                throw Invalid(text, "an smtp:// address needs ?to=<address>[,<address>] (and optionally &from=<address>), each a valid mail address");
            }

            return target;
        }

        var host = uri.Host.ToLowerInvariant();
        var byHost = host == "hooks.slack.com" ? NotifyKind.Slack
            : host.EndsWith(".logic.azure.com", StringComparison.Ordinal) || host.EndsWith(".powerplatform.com", StringComparison.Ordinal) || host.EndsWith(".webhook.office.com", StringComparison.Ordinal) ? NotifyKind.Teams
            : NotifyKind.Webhook;
        return new NotifyTarget(explicitKind ?? byHost, uri);
    }

    /// <summary>-NotifyUri given, else the addresses of DEPLOYMENT_ROLLBACK_NOTIFY.</summary>
    public static IReadOnlyList<NotifyTarget> Resolve(IEnumerable<string>? given)
    {
        var texts = given?.ToList() is { Count: > 0 } list
            ? list
            : (Environment.GetEnvironmentVariable(DefaultVariable) ?? "").Split(new[] { ';', ' ', '\n' }, StringSplitOptions.RemoveEmptyEntries).ToList();
        return texts.Select(Parse).ToList();
    }

    private IEnumerable<string> Query(string key) =>
        Uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2 && p[0].Equals(key, StringComparison.OrdinalIgnoreCase))
            .Select(p => Uri.UnescapeDataString(p[1]));

    private static RollbackException Invalid(string text, string why) =>
        new(ErrorIds.NotifyUriInvalid, RollbackErrorKind.InvalidArgument,
            $"'{(Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) ? UrlCredentials.DescribeHost(uri) : "(an address that is not a URL)")}' cannot be notified: {why}. Give a Teams workflow or Slack incoming webhook URL, any JSON webhook URL, or smtp://host:587/?to=oncall@example.com.");
}
