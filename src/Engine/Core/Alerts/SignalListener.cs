using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace DeploymentRollback.Engine;

/// <summary>How an alert listener listens, whom it believes, and what it does with a firing alert.</summary>
public sealed record ListenerOptions
{
    /// <summary>HttpListener prefixes, e.g. http://127.0.0.1:9099/alerts/ (each ends with a slash).</summary>
    public required IReadOnlyList<string> Prefixes { get; init; }
    public string? BearerToken { get; init; }
    public byte[]? HmacSecret { get; init; }
    /// <summary>The header the HMAC signature is in; X-Hub-Signature-256 or X-Signature when null.</summary>
    public string? SignatureHeader { get; init; }
    public int MaxBodyBytes { get; init; } = 1024 * 1024;
    public AlertTargetMap Map { get; init; } = new();
    public string? SignalName { get; init; }
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan? Duration { get; init; }
    /// <summary>Record the alerts and say what would be done; never roll back.</summary>
    public bool DryRun { get; init; }

    public void Validate()
    {
        if (BearerToken is null && HmacSecret is null)
        {
            throw new RollbackException(ErrorIds.ListenerAuthenticationRequired, RollbackErrorKind.InvalidArgument,
                "A listener that anyone could post to could be made to roll back: give -BearerToken (Alertmanager's http_config authorization, Azure Monitor's secure webhook) or -HmacSecret (a signed body), or both.");
        }

        foreach (var prefix in Prefixes)
        {
            if (!Uri.TryCreate(prefix, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !prefix.EndsWith('/'))
            {
                throw new RollbackException(ErrorIds.ListenerPrefixInvalid, RollbackErrorKind.InvalidArgument,
                    $"'{prefix}' is not a listener prefix. Give an http:// address ending with a slash, such as http://127.0.0.1:9099/alerts/ (or http://+:9099/alerts/ for every address).");
            }
        }
    }
}

/// <summary>
/// An HTTP endpoint for alerts (Alertmanager, Grafana, Azure Monitor, CloudEvents): it authenticates every request,
/// records each alert group's state changes as signals, and rolls the configured target back once per firing group.
/// A bad request gets its 4xx and a reason, and never stops the listener. Rollbacks run one at a time, after the
/// answer (senders time out in seconds; a rollback takes longer).
/// </summary>
public sealed class SignalListener
{
    public const string Initiator = "listener";
    public const string AlertReceived = "AlertReceived";

    private readonly ListenerOptions options;
    private readonly AutomaticRollback? action;
    private readonly EngineContext context;
    private readonly Action<RollbackResult> onRollback;
    private readonly ListenerReport report;
    private readonly SemaphoreSlim recording = new(1, 1);
    private readonly Channel<(InboundAlert Alert, string Group)> acts = Channel.CreateUnbounded<(InboundAlert, string)>();
    // Groups queued or being acted on by this listener: a repeat meanwhile is not queued again.
    private readonly HashSet<string> pending = new(StringComparer.Ordinal);

    public SignalListener(ListenerOptions options, AutomaticRollback? action, EngineContext context, Action<RollbackResult> onRollback)
    {
        options.Validate();
        this.options = options;
        this.action = action;
        this.context = context;
        this.onRollback = onRollback;
        report = new ListenerReport { TargetKey = action?.TargetKey, Prefixes = options.Prefixes.ToList(), StateDirectory = context.State.Directory };
    }

    public async Task<ListenerReport> RunAsync(CancellationToken stop)
    {
        using var http = Listen();
        report.StartedAt = DateTimeOffset.UtcNow;
        context.Observer.Progress(new ProgressUpdate("Listening for alerts", string.Join(", ", options.Prefixes)));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, context.Cancellation);
        if (options.Duration is { } duration)
        {
            linked.CancelAfter(duration);
        }

        var worker = Task.Run(() => ActLoopAsync());
        var handling = new List<Task>();
        try
        {
            while (!linked.IsCancellationRequested)
            {
                var request = await http.GetContextAsync().WaitAsync(linked.Token).ConfigureAwait(false);
                handling.Add(Task.Run(() => HandleAsync(request)));
                handling.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException)
        {
        }

        report.EndReason = stop.IsCancellationRequested || context.Cancellation.IsCancellationRequested ? "Stopped" : "DurationElapsed";
        http.Stop();
        // Marks it closed without closing again: .NET's HttpListener on Linux and macOS, disposed after Stop, opens the
        // port once more to remove its prefixes, and a sender connecting then makes it throw (see Listen).
        http.Abort();
        await Task.WhenAll(handling).ConfigureAwait(false);
        // A rollback under way is finished, and its record written, before the listener says it stopped.
        acts.Writer.Complete();
        await worker.ConfigureAwait(false);
        report.EndedAt = DateTimeOffset.UtcNow;
        context.Observer.Progress(new ProgressUpdate("Listening for alerts", report.EndReason, Completed: true));
        return report;
    }

    private HttpListener Listen()
    {
        var http = new HttpListener();
        foreach (var prefix in options.Prefixes)
        {
            http.Prefixes.Add(prefix);
        }

        try
        {
            http.Start();
            return http;
        }
        catch (HttpListenerException e)
        {
            throw new RollbackException(ErrorIds.ListenerStartFailed, RollbackErrorKind.ResourceBusy,
                $"The listener cannot listen on {string.Join(", ", options.Prefixes)}: {e.Message}. Choose a free port, or (on Windows) reserve the prefix with 'netsh http add urlacl'.");
        }
        catch (Exception e) when (e is ArgumentNullException or NullReferenceException)
        {
            // .NET's own HttpListener on Linux and macOS accepts on its socket before it has made its table of connections:
            // a sender that connects in that gap makes Start throw (dotnet/corefx#35191, still so in .NET 10). The port then
            // stays open and unusable in this process (measured: a second start finds the address in use, and the next
            // connection to it ends the process), so there is no retry here.
            throw new RollbackException(ErrorIds.ListenerStartFailed, RollbackErrorKind.ResourceBusy,
                $"A sender connected to {string.Join(", ", options.Prefixes)} while the listener was starting, which .NET's HttpListener on Linux and macOS does not survive: this PowerShell process keeps the port and cannot listen on it. End this process and start the listener in a new one (a service manager such as systemd restarts it by itself); the senders retry.");
        }
    }

    private async Task HandleAsync(HttpListenerContext http)
    {
        lock (report)
        {
            report.Requests++;
        }

        var (status, body) = await AnswerAsync(http.Request).ConfigureAwait(false);
        try
        {
            var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(body));
            http.Response.StatusCode = status;
            http.Response.ContentType = "application/json";
            await http.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
            http.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The sender went away; what it sent is recorded all the same.
        }
    }

    private async Task<(int Status, object Body)> AnswerAsync(HttpListenerRequest request)
    {
        if (request.HttpMethod == "GET")
        {
            return (200, new { status = "listening", target = action?.TargetKey });
        }

        if (request.HttpMethod != "POST")
        {
            return Refuse(405, ErrorIds.AlertPayloadInvalid, $"{request.HttpMethod} is not accepted: post the alert's JSON.");
        }

        // The token is checked before the body is read: a sender without it gets nothing but its 401.
        var headers = request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => request.Headers[k] ?? "", StringComparer.OrdinalIgnoreCase);
        if (options.BearerToken is { } token && Authenticate(() => AlertAuthentication.DemandBearerToken(headers, token)) is { } refused)
        {
            return refused;
        }

        if (request.ContentLength64 > options.MaxBodyBytes)
        {
            return Refuse(413, ErrorIds.AlertPayloadTooLarge, $"The body is {request.ContentLength64} bytes; at most {options.MaxBodyBytes} are accepted.");
        }

        byte[] body;
        try
        {
            body = await ReadBodyAsync(request.InputStream).ConfigureAwait(false);
        }
        catch (IOException)
        {
            return Refuse(400, ErrorIds.AlertPayloadInvalid, "The body could not be read to its end.");
        }

        if (body.Length > options.MaxBodyBytes)
        {
            return Refuse(413, ErrorIds.AlertPayloadTooLarge, $"The body is larger than the {options.MaxBodyBytes} bytes accepted.");
        }

        if (options.HmacSecret is { } secret && Authenticate(() => AlertAuthentication.DemandSignature(body, headers, secret, options.SignatureHeader)) is { } unsigned)
        {
            return unsigned;
        }

        IReadOnlyList<InboundAlert> alerts;

        try
        {
            alerts = AlertPayload.Parse(body, headers);
        }
        catch (RollbackException e)
        {
            return Refuse(400, e.ErrorId, e.Message);
        }

        try
        {
            return (202, await RecordAsync(alerts).ConfigureAwait(false));
        }
        catch (RollbackException e)
        {
            // The state store failed: the sender should retry (Alertmanager does on 5xx).
            context.Observer.Warning($"An alert could not be recorded: {e.Message}");
            return (503, new { error = e.ErrorId, message = e.Message });
        }
    }

    /// <summary>A 401 with the error id when the check throws, else null.</summary>
    private (int, object)? Authenticate(Action check)
    {
        try
        {
            check();
            return null;
        }
        catch (RollbackException e)
        {
            lock (report)
            {
                report.Unauthorized++;
            }

            context.Observer.Verbose($"Refused a request (401 {e.ErrorId})");
            return (401, new { error = e.ErrorId, message = e.Message });
        }
    }

    private (int, object) Refuse(int status, string id, string message)
    {
        lock (report)
        {
            report.Invalid++;
        }

        context.Observer.Verbose($"Refused a request ({status} {id}): {message}");
        return (status, new { error = id, message });
    }

    private async Task<byte[]> ReadBodyAsync(Stream input)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await input.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > options.MaxBodyBytes)
            {
                break;
            }
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Each alert (by its fingerprint, within its group): a change of state (first firing, resolved, firing again) is
    /// written as a signal and journaled; a repeat of the same state is counted as a duplicate. A group whose first alert
    /// starts firing for the listener's target (no other alert of it firing) is queued to be acted on, once.
    /// </summary>
    private async Task<object> RecordAsync(IReadOnlyList<InboundAlert> alerts)
    {
        int firing = 0, resolved = 0, duplicates = 0, unmapped = 0, acting = 0;
        // Each target's alert records are read once per request (not once per alert), and kept up to date as it records.
        var histories = new Dictionary<string, AlertHistory>(StringComparer.Ordinal);
        await recording.WaitAsync(context.Cancellation).ConfigureAwait(false);
        try
        {
            foreach (var alert in alerts)
            {
                _ = alert.Act ? firing++ : resolved++;
                var subject = options.Map.Resolve(alert);
                if (subject is null)
                {
                    unmapped++;
                    continue;
                }

                var group = $"{alert.Source}:{alert.GroupKey ?? alert.Fingerprint ?? alert.AlertName}";
                var member = alert.Fingerprint ?? alert.AlertName;
                if (!histories.TryGetValue(subject, out var history))
                {
                    history = histories[subject] = AlertHistory.Read(context.State.Journal.GetEvents(subject));
                }

                var states = history.States(group);
                if (states.TryGetValue(member, out var last) && last == alert.StatusText)
                {
                    duplicates++;
                    // A listener that died while acting on this group left its act undecided: a repeat finishes it.
                    if (alert.Act && action is not null && subject == action.TargetKey && history.ActUndecided(group) && pending.Add(group))
                    {
                        acting++;
                        await acts.Writer.WriteAsync((alert, group)).ConfigureAwait(false);
                    }

                    continue;
                }

                // The group's incident opens with its first firing alert; more alerts of an open group are part of it.
                var groupOpen = states.Any(s => s.Key != member && s.Value == "firing");

                var signal = AlertSignals.ToSignal(alert, subject, options.SignalName, context.State.Directory);
                await new SignalStore(context.State).EmitAsync(signal.Name, signal.Data, subject, null, context.Observer, context.Cancellation).ConfigureAwait(false);
                var opensIncident = alert.Act && !groupOpen && action is not null && subject == action.TargetKey;
                context.State.Journal.AddEvent(new JournalEvent(subject, null, DateTimeOffset.UtcNow, AlertReceived,
                    JsonSerializer.Serialize(new { Group = group, Member = member, Status = alert.StatusText, alert.AlertName, Source = alert.Source.ToString(), Acts = opensIncident }, Journal.JsonOptions)));
                history.Add(group, member, alert.StatusText, opensIncident);
                if (opensIncident && pending.Add(group))
                {
                    acting++;
                    await acts.Writer.WriteAsync((alert, group)).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            recording.Release();
        }

        lock (report)
        {
            report.Accepted++;
            report.Alerts += alerts.Count;
            report.Firing += firing;
            report.Resolved += resolved;
            report.Duplicates += duplicates;
            report.Unmapped += unmapped;
        }

        return new { alerts = alerts.Count, firing, resolved, duplicates, unmapped, acting };
    }

    /// <summary>A target's alert records (AlertReceived) and decisions (WatchDecided), in journal order, each read once.</summary>
    private sealed class AlertHistory
    {
        private readonly List<(string? Group, string Member, string Status, bool Acts)> entries = new();

        public static AlertHistory Read(IEnumerable<JournalEvent> events)
        {
            var history = new AlertHistory();
            foreach (var e in events)
            {
                if (e.Kind == WatchEvents.Decided)
                {
                    history.entries.Add((null, "", "", false));
                }
                else if (e.Kind == AlertReceived && Parse(e.Detail) is { } record)
                {
                    history.entries.Add(record);
                }
            }

            return history;
        }

        public void Add(string group, string member, string status, bool acts) => entries.Add((group, member, status, acts));

        /// <summary>The last recorded state ("firing", "resolved") of each alert of the group.</summary>
        public Dictionary<string, string> States(string group)
        {
            var states = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in entries.Where(e => e.Group == group))
            {
                states[entry.Member] = entry.Status;
            }

            return states;
        }

        /// <summary>Whether the group's last act was queued (recorded with Acts) and no decision was journaled after it.</summary>
        public bool ActUndecided(string group)
        {
            var queued = entries.FindLastIndex(e => e.Group == group && e.Acts);
            return queued >= 0 && !entries.Skip(queued + 1).Any(e => e.Group is null);
        }

        private static (string? Group, string Member, string Status, bool Acts)? Parse(string detail)
        {
            try
            {
                using var document = JsonDocument.Parse(detail);
                var root = document.RootElement;
                return (root.GetProperty("Group").GetString() ?? "", root.GetProperty("Member").GetString() ?? "", root.GetProperty("Status").GetString() ?? "",
                    root.TryGetProperty("Acts", out var acts) && acts.ValueKind == JsonValueKind.True);
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // A record this listener cannot read is not a state it knows.
                return null;
            }
        }
    }

    private async Task ActLoopAsync()
    {
        await foreach (var (alert, group) in acts.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await ActAsync(alert, group).ConfigureAwait(false);
            }
            catch (RollbackException e)
            {
                context.Observer.Warning($"The alert {alert.AlertName} could not be acted on: {e.Message}");
            }
            catch (OperationCanceledException)
            {
                return;
            }
            finally
            {
                // Under the recording lock: a repeat is either still seen as pending, or sees the decision journaled.
                await recording.WaitAsync().ConfigureAwait(false);
                pending.Remove(group);
                recording.Release();
            }
        }
    }

    private async Task ActAsync(InboundAlert alert, string group)
    {
        var reason = $"{alert.Reason} (alert group {group})";
        AutomaticOutcome outcome;
        if (options.DryRun)
        {
            outcome = new AutomaticOutcome("WouldRollBack", reason + " (-DryRun: nothing done)", await action!.ReadVersionAsync(context).ConfigureAwait(false));
        }
        else
        {
            var type = alert.SignalName == SignalNames.HealthCheckFailed ? FailureType.HealthCheckFailed : FailureType.Unknown;
            // The alert's own signal was written when it arrived: the recovery clock starts there.
            outcome = await action!.RollBackOnceAsync(reason, type, Initiator, options.Cooldown, _ => Task.CompletedTask, context).ConfigureAwait(false);
        }

        var decision = new WatchDecision
        {
            TargetKey = action.TargetKey, By = Initiator, DryRun = options.DryRun, At = DateTimeOffset.UtcNow, Action = outcome.Action,
            Reason = SecretRedactor.Redact(outcome.Reason), Version = outcome.Version, AttemptId = outcome.Result?.AttemptId,
        };
        context.State.Journal.AddEvent(new JournalEvent(action.TargetKey, decision.AttemptId, decision.At, WatchEvents.Decided, JsonSerializer.Serialize(decision, Journal.JsonOptions)));
        lock (report)
        {
            report.Decisions.Add(decision);
            if (outcome.Result is { } result)
            {
                report.Rollbacks.Add(result);
            }
        }

        context.Observer.Verbose($"Alert decision: {outcome.Action}: {decision.Reason}");
        if (outcome.NeedsPerson)
        {
            context.Observer.Warning($"Alert listener for {action.TargetKey}: {outcome.Reason}");
            try
            {
                var data = new Dictionary<string, object?> { ["reason"] = outcome.Reason, ["target"] = action.TargetKey, ["version"] = outcome.Version, ["by"] = Initiator };
                await new SignalStore(context.State).EmitAsync(SignalNames.ManualInterventionRequired, data, action.TargetKey, null, context.Observer, context.Cancellation).ConfigureAwait(false);
                await Notifier.NotifyAsync(SignalNames.ManualInterventionRequired, action.TargetKey, data, null, context).ConfigureAwait(false);
            }
            catch (RollbackException e)
            {
                context.Observer.Warning($"The signal {SignalNames.ManualInterventionRequired} was not emitted: {e.Message}");
            }
        }

        if (outcome.Result is { } done)
        {
            onRollback(done);
        }
    }
}
