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
public sealed class SignalStore
{
    public const string TypePrefix = "io.deploymentrollback.signal.";
    private static readonly JsonEventFormatter Formatter = new(new JsonSerializerOptions { WriteIndented = true }, new JsonDocumentOptions());
    private static readonly Lazy<HttpClient> WebhookClient = new(() => new HttpClient { Timeout = TimeSpan.FromSeconds(30) });

    private readonly StateRoot state;

    public SignalStore(StateRoot state)
    {
        this.state = state;
    }

    public static void ValidateName(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || !System.Text.RegularExpressions.Regex.IsMatch(name, "^[A-Z][A-Z0-9_]{1,63}$"))
        {
            throw new RollbackException(ErrorIds.SignalNameInvalid, RollbackErrorKind.InvalidArgument,
                $"'{name}' is not a signal name. Use upper-case letters, digits and underscores, such as {string.Join(", ", SignalNames.All)}.");
        }
    }

    public async Task<RollbackSignal> EmitAsync(string name, IReadOnlyDictionary<string, object?> data, string? subject, Uri? webhook, IRollbackObserver observer, CancellationToken cancellation, bool webhookFailureIsError = false)
    {
        ValidateName(name);
        var now = DateTimeOffset.UtcNow;
        var id = Guid.NewGuid().ToString("N");
        var redacted = SecretRedactor.Redact(data);
        var cloudEvent = new CloudEvent
        {
            Id = id,
            Type = TypePrefix + name,
            Source = new Uri("urn:deployment-rollback:" + Uri.EscapeDataString(Environment.MachineName.ToLowerInvariant())),
            Time = now,
            Subject = subject,
            DataContentType = MediaTypeNames.Application.Json,
            Data = JsonSerializer.SerializeToElement(redacted, Journal.JsonOptions),
        };

        // Sub-millisecond stamps keep file order equal to emission order for signals sent in a burst.
        var file = System.IO.Path.Combine(state.SignalsDirectory, $"{now:yyyyMMdd'T'HHmmssfffffff'Z'}-{name}-{id[..8]}.json");
        AtomicFile.WriteAllText(file, Encoding.UTF8.GetString(Formatter.EncodeStructuredModeMessage(cloudEvent, out _).Span));
        observer.Verbose($"Signal {name} written to {file}");
        if (subject is not null)
        {
            state.Journal.AddEvent(new JournalEvent(subject, data.TryGetValue("attempt_id", out var attempt) ? attempt?.ToString() : null, now, JournalEventKinds.SignalEmitted, name));
        }

        var signal = ToSignal(cloudEvent, file);
        if (webhook is not null)
        {
            signal.WebhookStatusCode = await PostAsync(cloudEvent, webhook, observer, cancellation, webhookFailureIsError).ConfigureAwait(false);
        }

        return signal;
    }

    /// <summary>Signals in the state root, oldest first, filtered by name, subject and time.</summary>
    public IReadOnlyList<RollbackSignal> Read(IReadOnlyCollection<string>? names = null, string? subject = null, DateTimeOffset? since = null)
    {
        var signals = new List<RollbackSignal>();
        foreach (var file in Directory.EnumerateFiles(state.SignalsDirectory, "*.json").Order(StringComparer.Ordinal))
        {
            CloudEvent cloudEvent;
            try
            {
                cloudEvent = Formatter.DecodeStructuredModeMessage(File.ReadAllBytes(file), new ContentType("application/cloudevents+json"), null);
            }
            catch (Exception e) when (e is ArgumentException or JsonException or IOException)
            {
                continue;
            }

            var signal = ToSignal(cloudEvent, file);
            if ((names is null || names.Count == 0 || names.Contains(signal.Name, StringComparer.OrdinalIgnoreCase))
                && (subject is null || string.Equals(signal.Subject, subject, StringComparison.Ordinal))
                && (since is null || signal.Time >= since))
            {
                signals.Add(signal);
            }
        }

        return signals.OrderBy(s => s.Time).ToList();
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
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (element.ValueKind != JsonValueKind.Object)
        {
            result["value"] = element.ToString();
            return result;
        }

        foreach (var property in element.EnumerateObject())
        {
            result[property.Name] = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString(),
                JsonValueKind.Number => property.Value.TryGetInt64(out var whole) ? whole : property.Value.GetDouble(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Null => null,
                _ => property.Value.GetRawText(),
            };
        }

        return result;
    }

    private static async Task<int?> PostAsync(CloudEvent cloudEvent, Uri webhook, IRollbackObserver observer, CancellationToken cancellation, bool failureIsError)
    {
        try
        {
            using var content = cloudEvent.ToHttpContent(ContentMode.Structured, Formatter);
            using var response = await WebhookClient.Value.PostAsync(webhook, content, cancellation).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Fail($"The webhook {webhook.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            return (int)response.StatusCode;
        }
        catch (HttpRequestException e)
        {
            Fail($"The webhook {webhook.GetLeftPart(UriPartial.Path)} could not be reached: {e.Message}");
            return null;
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            Fail($"The webhook {webhook.GetLeftPart(UriPartial.Path)} did not answer within {WebhookClient.Value.Timeout.TotalSeconds:0} s.");
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
