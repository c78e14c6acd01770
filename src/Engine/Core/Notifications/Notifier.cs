using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace DeploymentRollback.Engine;

/// <summary>
/// Tells people that a rollback started and how it ended: a Teams Adaptive Card, a Slack Block Kit message, a JSON
/// document, or an email with the incident report attached. A delivery that fails is recorded and warned about, never
/// fatal to the rollback; each delivery is journaled, so the checklist can tick "team notified" from evidence.
/// </summary>
public static class Notifier
{
    public const string SentKind = "NotificationSent";
    public const string FailedKind = "NotificationFailed";

    /// <summary>The signals of a rollback that people are told of: its start and its end.</summary>
    public static readonly IReadOnlySet<string> RollbackSignals = new HashSet<string>(StringComparer.Ordinal)
    {
        SignalNames.RollbackStarted, SignalNames.RollbackComplete, SignalNames.RollbackFailed, SignalNames.ManualInterventionRequired,
    };

    private static readonly Lazy<HttpClient> Client = new(() => new HttpClient { Timeout = TimeSpan.FromSeconds(15) });

    /// <summary>One message per target in context.Notify; attempt is the rollback (null for a signal sent by hand).</summary>
    public static async Task NotifyAsync(string signal, string subject, IReadOnlyDictionary<string, object?> data, RollbackResult? attempt, EngineContext context)
    {
        var message = new Message(signal, subject, data, attempt);
        foreach (var target in context.Notify)
        {
            try
            {
                await SendAsync(target, message, context).ConfigureAwait(false);
                context.State.Journal.AddEvent(new JournalEvent(subject, attempt?.AttemptId, DateTimeOffset.UtcNow, SentKind, $"{signal} delivered to {target.Display}"));
            }
            catch (Exception e) when (e is not OperationCanceledException || !context.Cancellation.IsCancellationRequested)
            {
                var why = SecretRedactor.Redact(e.Message).Replace(target.Uri.ToString(), target.Display, StringComparison.Ordinal);
                context.Observer.Warning($"{signal} could not be sent to {target.Display}: {why}. The rollback goes on.");
                try
                {
                    context.State.Journal.AddEvent(new JournalEvent(subject, attempt?.AttemptId, DateTimeOffset.UtcNow, FailedKind, $"{signal} to {target.Display}: {why}"));
                }
                catch (RollbackException)
                {
                    // The state cannot take the record either; the warning has said it.
                }
            }
        }
    }

    private sealed record Message(string Signal, string Subject, IReadOnlyDictionary<string, object?> Data, RollbackResult? Attempt)
    {
        public string Title => Attempt is null
            ? $"{Signal}: {Subject}"
            : $"{Signal}: {Attempt.TargetKey}" + (Attempt.FromVersion is null ? "" : $" {Attempt.FromVersion} -> {Attempt.ToVersion ?? "?"}");

        /// <summary>What people read, name and value, never a secret (the data went through the signal's redaction).</summary>
        public IReadOnlyList<(string Name, string Value)> Facts()
        {
            var facts = new List<(string, string)>();
            if (Attempt is { } a)
            {
                facts.Add(("Outcome", Signal == SignalNames.RollbackStarted ? "started" : a.Outcome.ToString()));
                facts.Add(("Target", a.TargetKey));
                facts.Add(("Strategy", a.Strategy));
                facts.Add(("From", a.FromVersion ?? "unknown"));
                facts.Add(("To", a.ToVersion ?? "none"));
                facts.Add(("Attempt", $"{a.AttemptId} (attempt {a.AttemptNumber.ToString(CultureInfo.InvariantCulture)})"));
                if (a.Reason is not null)
                {
                    facts.Add(("Reason", a.Reason));
                }

                if (a.TimeToRecovery is { } ttr)
                {
                    facts.Add(("Time to recovery", $"{ttr.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s"));
                }

                if (Signal != SignalNames.RollbackStarted && a.Message is not null)
                {
                    facts.Add(("Message", a.Message));
                }
            }
            else
            {
                facts.Add(("Subject", Subject));
                facts.AddRange(Data.Where(d => d.Value is not null).Select(d => (d.Key, Convert.ToString(d.Value, CultureInfo.InvariantCulture) ?? "")));
            }

            return facts.Select(f => (f.Item1, SecretRedactor.Redact(f.Item2))).ToList();
        }
    }

    private static async Task SendAsync(NotifyTarget target, Message message, EngineContext context)
    {
        if (target.Kind == NotifyKind.Email)
        {
            await SendMailAsync(target, message, context).ConfigureAwait(false);
            return;
        }

        var payload = target.Kind switch
        {
            NotifyKind.Teams => TeamsCard(message),
            NotifyKind.Slack => SlackBlocks(message),
            _ => Json(message),
        };
        using var response = await Client.Value.PostAsJsonAsync(target.Uri, payload, context.Cancellation).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"the endpoint answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
    }

    /// <summary>The message a Teams workflow ("when a Teams webhook request is received") posts: one Adaptive Card.</summary>
    private static JsonObject TeamsCard(Message message) => new()
    {
        ["type"] = "message",
        ["attachments"] = new JsonArray(new JsonObject
        {
            ["contentType"] = "application/vnd.microsoft.card.adaptive",
            ["contentUrl"] = null,
            ["content"] = new JsonObject
            {
                ["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json",
                ["type"] = "AdaptiveCard",
                ["version"] = "1.4",
                ["body"] = new JsonArray(
                    new JsonObject { ["type"] = "TextBlock", ["text"] = message.Title, ["weight"] = "Bolder", ["size"] = "Medium", ["wrap"] = true, ["color"] = Colour(message.Signal) },
                    new JsonObject { ["type"] = "FactSet", ["facts"] = new JsonArray(message.Facts().Select(f => (JsonNode)new JsonObject { ["title"] = f.Name, ["value"] = f.Value }).ToArray()) }),
            },
        }),
    };

    /// <summary>A Slack incoming webhook message: text for notifications, Block Kit blocks for the channel.</summary>
    private static JsonObject SlackBlocks(Message message) => new()
    {
        ["text"] = message.Title,
        ["blocks"] = new JsonArray(
            new JsonObject { ["type"] = "header", ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = Cut(message.Title, 150) } },
            new JsonObject
            {
                ["type"] = "section",
                // Slack takes at most 10 fields of 2000 characters each.
                ["fields"] = new JsonArray(message.Facts().Take(10).Select(f => (JsonNode)new JsonObject { ["type"] = "mrkdwn", ["text"] = Cut($"*{f.Name}*\n{f.Value}", 2000) }).ToArray()),
            }),
    };

    private static JsonObject Json(Message message)
    {
        var document = new JsonObject { ["signal"] = message.Signal, ["subject"] = message.Subject, ["title"] = message.Title };
        foreach (var (name, value) in message.Facts())
        {
            document[name.ToLowerInvariant().Replace(' ', '_')] = value;
        }

        return document;
    }

    private static async Task SendMailAsync(NotifyTarget target, Message message, EngineContext context)
    {
        var mail = new MimeMessage { Subject = "[DeploymentRollback] " + message.Title };
        mail.From.Add(MailboxAddress.Parse(target.From));
        foreach (var to in target.Recipients)
        {
            mail.To.Add(MailboxAddress.Parse(to));
        }

        var body = new BodyBuilder { TextBody = string.Join("\n", message.Facts().Select(f => $"{f.Name}: {f.Value}")) + "\n" };
        if (message.Attempt is { } attempt && message.Signal != SignalNames.RollbackStarted)
        {
            // The incident as it stands at the end of the rollback, redacted as every report is.
            var report = IncidentReportWriter.Build(context.State, attempt);
            // The page (timeline and all, self-contained, so it opens offline from the mail) and the Markdown for tickets.
            body.Attachments.Add($"incident-{attempt.AttemptId}.html", System.Text.Encoding.UTF8.GetBytes(IncidentHtml.Render(context.State, report, attempt)), new ContentType("text", "html") { Charset = "utf-8" });
            body.Attachments.Add($"incident-{attempt.AttemptId}.md", System.Text.Encoding.UTF8.GetBytes(IncidentReportWriter.ToMarkdown(report, attempt)), new ContentType("text", "markdown") { Charset = "utf-8" });
        }

        mail.Body = body.ToMessageBody();
        using var smtp = new SmtpClient { Timeout = 15000 };
        await smtp.ConnectAsync(target.Uri.Host, target.Uri.Port > 0 ? target.Uri.Port : target.Uri.Scheme == "smtps" ? 465 : 587,
            target.Uri.Scheme == "smtps" ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable, context.Cancellation).ConfigureAwait(false);
        if (target.Uri.UserInfo.Length > 0)
        {
            var parts = target.Uri.UserInfo.Split(':', 2);
            await smtp.AuthenticateAsync(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "", context.Cancellation).ConfigureAwait(false);
        }

        await smtp.SendAsync(mail, context.Cancellation).ConfigureAwait(false);
        await smtp.DisconnectAsync(true, context.Cancellation).ConfigureAwait(false);
    }

    private static string Colour(string signal) => signal switch
    {
        SignalNames.RollbackComplete => "Good",
        SignalNames.RollbackStarted => "Accent",
        SignalNames.ManualInterventionRequired => "Attention",
        _ => "Warning",
    };

    private static string Cut(string text, int length) => text.Length <= length ? text : text[..(length - 3)] + "...";
}
