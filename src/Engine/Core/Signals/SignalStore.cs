using System.Net.Http.Headers;
using System.Net.Mime;
using System.Text;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.Http;
using CloudNative.CloudEvents.SystemTextJson;

namespace DeploymentRollback.Engine;

/// <summary>
/// Signals as CloudEvents 1.0 structured JSON files in signals/ (one per signal), optionally POSTed to a webhook.
/// The event type ends with the signal name; the data holds the payload, secrets redacted.
/// </summary>
public sealed partial class SignalStore
{
    public const string TypePrefix = "io.deploymentrollback.signal.";

    /// <summary>The data key that says whether a signal is to be acted on: false for a resolved alert, which is recorded only.</summary>
    public const string ActKey = "act";
    private static readonly JsonEventFormatter Formatter = new(new JsonSerializerOptions { WriteIndented = true }, new JsonDocumentOptions());
    private static readonly Lazy<HttpClient> WebhookClient = new(() => new HttpClient { Timeout = TimeSpan.FromSeconds(30) });

    private const int MaxFileBytes = 1024 * 1024;
    private const int MaxDataDepth = 32;

    // Query parameters that carry a credential in common webhook services, besides names the redactor knows.
    private readonly StateRoot state;

    public SignalStore(StateRoot state)
    {
        this.state = state;
    }

    public static void ValidateName(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || !SignalName().IsMatch(name))
        {
            throw new RollbackException(ErrorIds.SignalNameInvalid, RollbackErrorKind.InvalidArgument,
                $"'{name}' is not a signal name. Use upper-case letters, digits and underscores, such as {string.Join(", ", SignalNames.All)}.");
        }
    }

    /// <summary>The subject is a CloudEvents string attribute, where control characters (a newline) are not allowed.</summary>
    public static void ValidateSubject(string? subject)
    {
        if (subject is not null && (subject.Length == 0 || subject.Any(char.IsControl)))
        {
            throw new RollbackException(ErrorIds.SignalTargetKeyInvalid, RollbackErrorKind.InvalidArgument,
                $"The target key '{subject.ReplaceLineEndings(" ")}' cannot be a signal's subject: it is empty or holds a control character such as a line break. Pass the TargetKey as a result or assessment shows it, on one line.");
        }
    }

    public async Task<RollbackSignal> EmitAsync(string name, IReadOnlyDictionary<string, object?> data, string? subject, Uri? webhook, IRollbackObserver observer, CancellationToken cancellation, bool webhookFailureIsError = false)
    {
        ValidateName(name);
        ValidateSubject(subject);
        var now = DateTimeOffset.UtcNow;
        var id = Guid.NewGuid().ToString("N");
        // Checked before redaction too, whose cost grows with the text; the encoded signal is checked again below.
        if (SignalDataJson.ToUtf8(data).Length > MaxFileBytes)
        {
            throw TooLarge(name);
        }

        using var redacted = JsonDocument.Parse(SignalDataJson.ToUtf8(Redact(data)));
        var cloudEvent = new CloudEvent
        {
            Id = id,
            Type = TypePrefix + name,
            Source = new Uri("urn:deployment-rollback:" + Uri.EscapeDataString(Environment.MachineName.ToLowerInvariant())),
            Time = now,
            Subject = subject,
            DataContentType = MediaTypeNames.Application.Json,
            Data = redacted.RootElement.Clone(),
        };

        // Sub-millisecond stamps keep file order equal to emission order for signals sent in a burst.
        var file = System.IO.Path.Combine(state.SignalsDirectory, $"{now:yyyyMMdd'T'HHmmssfffffff'Z'}-{name}-{id[..8]}.json");
        var encoded = Encoding.UTF8.GetString(Formatter.EncodeStructuredModeMessage(cloudEvent, out _).Span);
        if (Encoding.UTF8.GetByteCount(encoded) > MaxFileBytes)
        {
            throw TooLarge(name);
        }

        try
        {
            AtomicFile.WriteAllText(file, encoded);
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw StateFaults.ForFile(file, $"write the signal {name} to", e);
        }

        SharedArtefacts.KeepFile(state, SharedArtefacts.Signals, file);

        observer.Verbose($"Signal {name} written to {file}");
        if (subject is not null)
        {
            state.Journal.AddEvent(new JournalEvent(subject, data.TryGetValue("attempt_id", out var attempt) ? attempt?.ToString() : null, now, JournalEventKinds.SignalEmitted,
                IsActedOn(data) ? name : name + " (recorded, not acted on)"));
        }

        var signal = ToSignal(cloudEvent, file);
        if (webhook is not null)
        {
            signal.WebhookStatusCode = await PostAsync(cloudEvent, webhook, observer, cancellation, webhookFailureIsError).ConfigureAwait(false);
        }

        return signal;
    }

    /// <summary>Readers skip larger files, so such a signal would be written but never read.</summary>
    private static RollbackException TooLarge(string name) => new(ErrorIds.SignalDataInvalid, RollbackErrorKind.InvalidArgument,
        $"The signal {name} would be larger than {MaxFileBytes / 1024} KiB. Put large content in a file and pass its path in the data instead.");

    /// <summary>
    /// Signals in the state root, oldest first, filtered by name, subject and time. A file that is not a signal of this
    /// module (corrupt, foreign, empty, a pipe) is skipped with a warning naming it, so one bad file hides no other signal.
    /// </summary>
    public IReadOnlyList<RollbackSignal> Read(IReadOnlyCollection<string>? names = null, string? subject = null, DateTimeOffset? since = null, IRollbackObserver? observer = null)
    {
        var signals = new List<RollbackSignal>();
        // A shared store's signals first come into the local folder (names start with their time: older ones are left out).
        var oldest = since?.ToUniversalTime().ToString("yyyyMMdd'T'HHmmss", System.Globalization.CultureInfo.InvariantCulture);
        SharedArtefacts.BringFiles(state, SharedArtefacts.Signals, state.SignalsDirectory, name => oldest is null || string.CompareOrdinal(name, oldest) >= 0);
        List<string> files;
        try
        {
            files = Directory.EnumerateFiles(state.SignalsDirectory, "*.json").Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw StateFaults.ForFile(state.SignalsDirectory, "list the signals in", e);
        }

        foreach (var file in files)
        {
            // This module's files start with their time: older ones than asked for are not read at all, so a state
            // folder's growing history costs a rollback nothing. Other names are read (and warned about) as before.
            var fileName = System.IO.Path.GetFileName(file);
            if (oldest is not null && IsTimeNamed(fileName) && string.CompareOrdinal(fileName, 0, oldest, 0, oldest.Length) < 0)
            {
                continue;
            }

            // The file is named after its signal too: one of another name is not read at all, so the signals a batch of
            // rollbacks writes (STARTED, COMPLETED, ...) cost none of them anything when they look for DEPLOYMENT_FAILED.
            if (names is { Count: > 0 } && NameInFileName(fileName) is { } named && !names.Contains(named, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            var signal = TryDecode(file, out var problem);
            if (signal is null)
            {
                observer?.Warning($"Skipped '{state.Describe(file)}': it is not a signal this module can read ({problem}). Move it out of {state.Describe(state.SignalsDirectory)} to silence this warning.");
                continue;
            }

            if ((names is null || names.Count == 0 || names.Contains(signal.Name, StringComparer.OrdinalIgnoreCase))
                && (subject is null || string.Equals(signal.Subject, subject, StringComparison.Ordinal))
                && (since is null || signal.Time >= since))
            {
                signals.Add(signal);
            }
        }

        return signals.OrderBy(s => s.Time).ToList();
    }

    /// <summary>A name as this module writes it: yyyyMMddTHHmmss... (its UTC time) first.</summary>
    private static bool IsTimeNamed(string name) =>
        name.Length > 15 && name[8] == 'T' && name.AsSpan(0, 8).IndexOfAnyExceptInRange('0', '9') < 0 && name.AsSpan(9, 6).IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>The signal name in a file name as <see cref="EmitAsync"/> writes it; null for any other name.</summary>
    internal static string? NameInFileName(string fileName) =>
        EmittedFileName().Match(fileName) is { Success: true } match ? match.Groups["name"].Value : null;

    // A signal name, alone and inside the file names EmitAsync writes: one rule for both.
    private const string NamePattern = "[A-Z][A-Z0-9_]{1,63}";

    [System.Text.RegularExpressions.GeneratedRegex("^" + NamePattern + "$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex SignalName();

    [System.Text.RegularExpressions.GeneratedRegex("^[0-9]{8}T[0-9]{13}Z-(?<name>" + NamePattern + ")-[0-9a-f]{8}\\.json$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex EmittedFileName();

    private RollbackSignal? TryDecode(string file, out string? problem)
    {
        var content = StateFaults.TryReadSmallFile(file, MaxFileBytes, out problem);
        if (content is null)
        {
            return null;
        }

        try
        {
            return ToSignal(Formatter.DecodeStructuredModeMessage(content, new ContentType("application/cloudevents+json"), null), file);
        }
        catch (Exception e) when (e is ArgumentException or JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            problem = e.Message;
            return null;
        }
    }

    private RollbackSignal ToSignal(CloudEvent cloudEvent, string file) => new()
    {
        Id = cloudEvent.Id ?? "",
        Type = cloudEvent.Type ?? "",
        Name = cloudEvent.Type is { } type && type.StartsWith(TypePrefix, StringComparison.Ordinal) ? type[TypePrefix.Length..] : cloudEvent.Type ?? "",
        Source = cloudEvent.Source?.ToString() ?? "",
        Subject = cloudEvent.Subject,
        Time = cloudEvent.Time ?? DateTimeOffset.MinValue,
        Data = cloudEvent.Data is JsonElement element ? ToDictionary(element) : new Dictionary<string, object?>(),
        FilePath = file,
        StateDirectory = state.Directory,
    };

    private static Dictionary<string, object?> ToDictionary(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return new Dictionary<string, object?>(StringComparer.Ordinal) { ["value"] = element.ToString() };
        }

        return element.EnumerateObject().ToDictionary(p => p.Name, p => ToValue(p.Value), StringComparer.Ordinal);
    }

    private static object? ToValue(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.TryGetInt64(out var whole) ? whole : value.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Object => ToDictionary(value),
        JsonValueKind.Array => value.EnumerateArray().Select(ToValue).ToArray(),
        _ => null,
    };

    /// <summary>Whether a signal asks to be acted on: every signal does, but one whose data says act = false (a resolved alert).</summary>
    public static bool IsActedOn(IReadOnlyDictionary<string, object?> data) =>
        !data.TryGetValue(ActKey, out var act) || act is null || !(act is false || (act is string text && bool.TryParse(text, out var parsed) && !parsed));

    /// <summary>Secret-looking keys and secrets inside strings are redacted at every level of nested data.</summary>
    public static Dictionary<string, object?> Redact(IReadOnlyDictionary<string, object?> data, int depth = 0)
    {
        if (depth > MaxDataDepth)
        {
            throw new RollbackException(ErrorIds.SignalDataInvalid, RollbackErrorKind.InvalidArgument,
                $"The signal data is nested deeper than {MaxDataDepth} levels (does a value contain itself?). Pass plain values, lists and hashtables.");
        }

        var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in data)
        {
            copy[key] = SecretRedactor.IsSecretKey(key) && value is not null ? SecretRedactor.Mask : RedactValue(value, depth + 1);
        }

        return copy;
    }

    private static object? RedactValue(object? value, int depth) => value switch
    {
        string text => SecretRedactor.Redact(text),
        IReadOnlyDictionary<string, object?> nested => Redact(nested, depth),
        IEnumerable<object?> items => items.Select(item => RedactValue(item, depth + 1)).ToList(),
        _ => value,
    };

    private static async Task<int?> PostAsync(CloudEvent cloudEvent, Uri webhook, IRollbackObserver observer, CancellationToken cancellation, bool failureIsError)
    {
        var shown = UrlCredentials.DescribeHost(webhook);
        var (address, authorization) = UrlCredentials.Split(webhook);
        try
        {
            using var content = cloudEvent.ToHttpContent(ContentMode.Structured, Formatter);
            using var request = new HttpRequestMessage(HttpMethod.Post, address) { Content = content, Headers = { Authorization = authorization } };

            using var response = await WebhookClient.Value.SendAsync(request, cancellation).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Fail($"The webhook {shown} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            return (int)response.StatusCode;
        }
        catch (HttpRequestException e)
        {
            Fail($"The webhook {shown} could not be reached: {SecretRedactor.Redact(e.Message)}");
            return null;
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            Fail($"The webhook {shown} did not answer within {WebhookClient.Value.Timeout.TotalSeconds:0} s.");
            return null;
        }

        void Fail(string message)
        {
            const string advice = " The signal file was written; check the webhook address and that the receiver accepts CloudEvents (application/cloudevents+json).";
            if (failureIsError)
            {
                throw new RollbackException(ErrorIds.SignalWebhookFailed, RollbackErrorKind.ConnectionError, message + advice);
            }

            observer.Warning(message + advice);
        }
    }
}
