using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DeploymentRollback.Engine;

/// <summary>
/// Writes and reads a journaled attempt (RollbackResult with its steps, health report and components) by hand, in the
/// layout System.Text.Json's own metadata wrote: the same names and order, nulls written, enums as their names, times
/// and durations in the serializer's formats. The serializer's metadata for these records compiles its generic code for
/// every enum, time, duration and nullable property at run time: some 70 ms of the first read or write of an attempt in
/// a fresh process (every runbook job), against a few milliseconds here. Read as the serializer read: unknown
/// properties are ignored, missing ones keep their defaults, a value of the wrong kind is a JsonException (which the
/// journal reports as JournalCorrupt). The target inside goes through the serializer, as before.
/// </summary>
internal sealed class AttemptJsonConverter : JsonConverter<RollbackResult>
{
    public override RollbackResult Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        try
        {
            return ReadAttempt(document.RootElement, options);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new JsonException($"An attempt record does not read as one: {e.Message}", e);
        }
    }

    public override void Write(Utf8JsonWriter writer, RollbackResult value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString(nameof(RollbackResult.AttemptId), value.AttemptId);
        writer.WriteString(nameof(RollbackResult.Strategy), value.Strategy);
        writer.WriteString(nameof(RollbackResult.TargetKey), value.TargetKey);
        writer.WriteString(nameof(RollbackResult.Path), value.Path);
        writer.WriteString(nameof(RollbackResult.StateDirectory), value.StateDirectory);
        WriteEnum(writer, nameof(RollbackResult.Outcome), value.Outcome);
        writer.WriteString(nameof(RollbackResult.FromVersion), value.FromVersion);
        writer.WriteString(nameof(RollbackResult.ToVersion), value.ToVersion);
        writer.WriteString(nameof(RollbackResult.Reason), value.Reason);
        writer.WriteString(nameof(RollbackResult.Initiator), value.Initiator);
        writer.WriteString(nameof(RollbackResult.Message), value.Message);
        WriteEnum(writer, nameof(RollbackResult.FailureType), value.FailureType);
        writer.WriteNumber(nameof(RollbackResult.AttemptNumber), value.AttemptNumber);
        writer.WriteString(nameof(RollbackResult.StartedAt), value.StartedAt);
        writer.WriteString(nameof(RollbackResult.CompletedAt), value.CompletedAt);
        WriteTime(writer, nameof(RollbackResult.Duration), value.Duration);
        WriteTime(writer, nameof(RollbackResult.TimeToRecovery), value.TimeToRecovery);
        WriteTime(writer, nameof(RollbackResult.FailureDetectedAt), value.FailureDetectedAt);
        writer.WriteString(nameof(RollbackResult.CheckpointName), value.CheckpointName);
        WriteList(writer, nameof(RollbackResult.Steps), value.Steps, WriteStep);
        WriteEnum(writer, nameof(RollbackResult.Verification), value.Verification);
        writer.WritePropertyName(nameof(RollbackResult.Health));
        if (value.Health is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            WriteHealth(writer, value.Health);
        }

        WriteStrings(writer, nameof(RollbackResult.Signals), value.Signals);
        WriteStrings(writer, nameof(RollbackResult.Changes), value.Changes);
        writer.WritePropertyName(nameof(RollbackResult.Deployment));
        JsonSerializer.Serialize(writer, value.Deployment, options);
        WriteList(writer, nameof(RollbackResult.Components), value.Components, WriteComponent);
        writer.WriteEndObject();
    }

    private static RollbackResult ReadAttempt(JsonElement json, JsonSerializerOptions options)
    {
        var attempt = new RollbackResult();
        foreach (var property in Properties(json))
        {
            var value = property.Value;
            switch (property.Name)
            {
                case nameof(RollbackResult.AttemptId): attempt.AttemptId = Text(value)!; break;
                case nameof(RollbackResult.Strategy): attempt.Strategy = Text(value)!; break;
                case nameof(RollbackResult.TargetKey): attempt.TargetKey = Text(value)!; break;
                case nameof(RollbackResult.Path): attempt.Path = Text(value)!; break;
                case nameof(RollbackResult.StateDirectory): attempt.StateDirectory = Text(value)!; break;
                case nameof(RollbackResult.Outcome): attempt.Outcome = (RollbackOutcome)ReadEnum(value, typeof(RollbackOutcome)); break;
                case nameof(RollbackResult.FromVersion): attempt.FromVersion = Text(value); break;
                case nameof(RollbackResult.ToVersion): attempt.ToVersion = Text(value); break;
                case nameof(RollbackResult.Reason): attempt.Reason = Text(value); break;
                case nameof(RollbackResult.Initiator): attempt.Initiator = Text(value); break;
                case nameof(RollbackResult.Message): attempt.Message = Text(value); break;
                case nameof(RollbackResult.FailureType): attempt.FailureType = (FailureType)ReadEnum(value, typeof(FailureType)); break;
                case nameof(RollbackResult.AttemptNumber): attempt.AttemptNumber = value.GetInt32(); break;
                case nameof(RollbackResult.StartedAt): attempt.StartedAt = Time(value); break;
                case nameof(RollbackResult.CompletedAt): attempt.CompletedAt = Time(value); break;
                case nameof(RollbackResult.Duration): attempt.Duration = Duration(value); break;
                case nameof(RollbackResult.TimeToRecovery): attempt.TimeToRecovery = IsNull(value) ? null : Duration(value); break;
                case nameof(RollbackResult.FailureDetectedAt): attempt.FailureDetectedAt = IsNull(value) ? null : Time(value); break;
                case nameof(RollbackResult.CheckpointName): attempt.CheckpointName = Text(value); break;
                case nameof(RollbackResult.Steps): attempt.Steps = ReadList(value, ReadStep); break;
                case nameof(RollbackResult.Verification): attempt.Verification = (VerificationOutcome)ReadEnum(value, typeof(VerificationOutcome)); break;
                case nameof(RollbackResult.Health): attempt.Health = IsNull(value) ? null : ReadHealth(value); break;
                case nameof(RollbackResult.Signals): attempt.Signals = ReadList(value, e => Text(e)!); break;
                case nameof(RollbackResult.Changes): attempt.Changes = ReadList(value, e => Text(e)!); break;
                case nameof(RollbackResult.Deployment): attempt.Deployment = value.Deserialize<DeploymentTarget>(options); break;
                case nameof(RollbackResult.Components): attempt.Components = ReadList(value, ReadComponent); break;
            }
        }

        return attempt;
    }

    private static void WriteStep(Utf8JsonWriter writer, StepResult step)
    {
        writer.WriteStartObject();
        writer.WriteString(nameof(StepResult.Name), step.Name);
        WriteEnum(writer, nameof(StepResult.Status), step.Status);
        writer.WriteString(nameof(StepResult.StartedAt), step.StartedAt);
        WriteTime(writer, nameof(StepResult.Duration), step.Duration);
        writer.WriteString(nameof(StepResult.Message), step.Message);
        writer.WriteString(nameof(StepResult.Output), step.Output);
        writer.WriteString(nameof(StepResult.ErrorId), step.ErrorId);
        writer.WriteBoolean(nameof(StepResult.Escalate), step.Escalate);
        writer.WriteEndObject();
    }

    private static StepResult ReadStep(JsonElement json)
    {
        var step = new StepResult();
        foreach (var property in Properties(json))
        {
            var value = property.Value;
            switch (property.Name)
            {
                case nameof(StepResult.Name): step.Name = Text(value)!; break;
                case nameof(StepResult.Status): step.Status = (StepStatus)ReadEnum(value, typeof(StepStatus)); break;
                case nameof(StepResult.StartedAt): step.StartedAt = Time(value); break;
                case nameof(StepResult.Duration): step.Duration = Duration(value); break;
                case nameof(StepResult.Message): step.Message = Text(value); break;
                case nameof(StepResult.Output): step.Output = Text(value); break;
                case nameof(StepResult.ErrorId): step.ErrorId = Text(value); break;
                case nameof(StepResult.Escalate): step.Escalate = value.GetBoolean(); break;
            }
        }

        return step;
    }

    private static void WriteHealth(Utf8JsonWriter writer, HealthReport health)
    {
        writer.WriteStartObject();
        writer.WriteString(nameof(HealthReport.AttemptId), health.AttemptId);
        writer.WriteString(nameof(HealthReport.Strategy), health.Strategy);
        writer.WriteString(nameof(HealthReport.TargetKey), health.TargetKey);
        writer.WriteString(nameof(HealthReport.Path), health.Path);
        writer.WriteString(nameof(HealthReport.StateDirectory), health.StateDirectory);
        writer.WriteString(nameof(HealthReport.Version), health.Version);
        writer.WriteString(nameof(HealthReport.CheckedAt), health.CheckedAt);
        WriteList(writer, nameof(HealthReport.Checks), health.Checks, WriteCheck);
        WriteList(writer, nameof(HealthReport.SmokeTests), health.SmokeTests, WriteSmokeTest);
        writer.WriteString(nameof(HealthReport.RecordedVerifiedVersion), health.RecordedVerifiedVersion);
        // Computed, and written as the serializer wrote every public property; ignored when read.
        writer.WriteBoolean(nameof(HealthReport.HealthChecksPassed), health.HealthChecksPassed);
        writer.WriteBoolean(nameof(HealthReport.SmokeTestsPassed), health.SmokeTestsPassed);
        writer.WriteBoolean(nameof(HealthReport.Healthy), health.Healthy);
        writer.WriteEndObject();
    }

    private static HealthReport ReadHealth(JsonElement json)
    {
        var health = new HealthReport();
        foreach (var property in Properties(json))
        {
            var value = property.Value;
            switch (property.Name)
            {
                case nameof(HealthReport.AttemptId): health.AttemptId = Text(value); break;
                case nameof(HealthReport.Strategy): health.Strategy = Text(value)!; break;
                case nameof(HealthReport.TargetKey): health.TargetKey = Text(value)!; break;
                case nameof(HealthReport.Path): health.Path = Text(value)!; break;
                case nameof(HealthReport.StateDirectory): health.StateDirectory = Text(value)!; break;
                case nameof(HealthReport.Version): health.Version = Text(value); break;
                case nameof(HealthReport.CheckedAt): health.CheckedAt = Time(value); break;
                case nameof(HealthReport.Checks): health.Checks = ReadList(value, ReadCheck); break;
                case nameof(HealthReport.SmokeTests): health.SmokeTests = ReadList(value, ReadSmokeTest); break;
                case nameof(HealthReport.RecordedVerifiedVersion): health.RecordedVerifiedVersion = Text(value); break;
            }
        }

        return health;
    }

    private static void WriteCheck(Utf8JsonWriter writer, HealthCheckResult check)
    {
        writer.WriteStartObject();
        writer.WriteString(nameof(HealthCheckResult.Uri), check.Uri);
        writer.WriteBoolean(nameof(HealthCheckResult.Passed), check.Passed);
        WriteNumber(writer, nameof(HealthCheckResult.StatusCode), check.StatusCode);
        writer.WriteNumber(nameof(HealthCheckResult.Attempts), check.Attempts);
        WriteTime(writer, nameof(HealthCheckResult.Duration), check.Duration);
        writer.WriteString(nameof(HealthCheckResult.Message), check.Message);
        writer.WriteString(nameof(HealthCheckResult.BodyExcerpt), check.BodyExcerpt);
        writer.WriteBoolean(nameof(HealthCheckResult.NameNotResolved), check.NameNotResolved);
        writer.WriteEndObject();
    }

    private static HealthCheckResult ReadCheck(JsonElement json)
    {
        var check = new HealthCheckResult();
        foreach (var property in Properties(json))
        {
            var value = property.Value;
            switch (property.Name)
            {
                case nameof(HealthCheckResult.Uri): check.Uri = Text(value)!; break;
                case nameof(HealthCheckResult.Passed): check.Passed = value.GetBoolean(); break;
                case nameof(HealthCheckResult.StatusCode): check.StatusCode = IsNull(value) ? null : value.GetInt32(); break;
                case nameof(HealthCheckResult.Attempts): check.Attempts = value.GetInt32(); break;
                case nameof(HealthCheckResult.Duration): check.Duration = Duration(value); break;
                case nameof(HealthCheckResult.Message): check.Message = Text(value)!; break;
                case nameof(HealthCheckResult.BodyExcerpt): check.BodyExcerpt = Text(value); break;
                case nameof(HealthCheckResult.NameNotResolved): check.NameNotResolved = value.GetBoolean(); break;
            }
        }

        return check;
    }

    private static void WriteSmokeTest(Utf8JsonWriter writer, SmokeTestResult test)
    {
        writer.WriteStartObject();
        writer.WriteString(nameof(SmokeTestResult.Name), test.Name);
        writer.WriteBoolean(nameof(SmokeTestResult.Passed), test.Passed);
        WriteNumber(writer, nameof(SmokeTestResult.ExitCode), test.ExitCode);
        WriteTime(writer, nameof(SmokeTestResult.Duration), test.Duration);
        writer.WriteString(nameof(SmokeTestResult.Output), test.Output);
        writer.WriteEndObject();
    }

    private static SmokeTestResult ReadSmokeTest(JsonElement json)
    {
        var test = new SmokeTestResult();
        foreach (var property in Properties(json))
        {
            var value = property.Value;
            switch (property.Name)
            {
                case nameof(SmokeTestResult.Name): test.Name = Text(value)!; break;
                case nameof(SmokeTestResult.Passed): test.Passed = value.GetBoolean(); break;
                case nameof(SmokeTestResult.ExitCode): test.ExitCode = IsNull(value) ? null : value.GetInt32(); break;
                case nameof(SmokeTestResult.Duration): test.Duration = Duration(value); break;
                case nameof(SmokeTestResult.Output): test.Output = Text(value)!; break;
            }
        }

        return test;
    }

    private static void WriteComponent(Utf8JsonWriter writer, ComponentOutcome component)
    {
        writer.WriteStartObject();
        writer.WriteString(nameof(ComponentOutcome.Name), component.Name);
        writer.WriteString(nameof(ComponentOutcome.Strategy), component.Strategy);
        writer.WriteString(nameof(ComponentOutcome.TargetKey), component.TargetKey);
        writer.WriteString(nameof(ComponentOutcome.Action), component.Action);
        writer.WriteString(nameof(ComponentOutcome.Reason), component.Reason);
        writer.WriteString(nameof(ComponentOutcome.FromVersion), component.FromVersion);
        writer.WriteString(nameof(ComponentOutcome.ToVersion), component.ToVersion);
        writer.WriteString(nameof(ComponentOutcome.VersionNow), component.VersionNow);
        if (component.Outcome is { } outcome)
        {
            WriteEnum(writer, nameof(ComponentOutcome.Outcome), outcome);
        }
        else
        {
            writer.WriteNull(nameof(ComponentOutcome.Outcome));
        }

        writer.WriteString(nameof(ComponentOutcome.AttemptId), component.AttemptId);
        writer.WriteString(nameof(ComponentOutcome.CheckpointName), component.CheckpointName);
        writer.WriteNumber(nameof(ComponentOutcome.Wave), component.Wave);
        WriteTime(writer, nameof(ComponentOutcome.StartedAt), component.StartedAt);
        WriteTime(writer, nameof(ComponentOutcome.Duration), component.Duration);
        writer.WriteString(nameof(ComponentOutcome.Message), component.Message);
        writer.WriteEndObject();
    }

    private static ComponentOutcome ReadComponent(JsonElement json)
    {
        var component = new ComponentOutcome();
        foreach (var property in Properties(json))
        {
            var value = property.Value;
            switch (property.Name)
            {
                case nameof(ComponentOutcome.Name): component.Name = Text(value)!; break;
                case nameof(ComponentOutcome.Strategy): component.Strategy = Text(value)!; break;
                case nameof(ComponentOutcome.TargetKey): component.TargetKey = Text(value)!; break;
                case nameof(ComponentOutcome.Action): component.Action = Text(value)!; break;
                case nameof(ComponentOutcome.Reason): component.Reason = Text(value); break;
                case nameof(ComponentOutcome.FromVersion): component.FromVersion = Text(value); break;
                case nameof(ComponentOutcome.ToVersion): component.ToVersion = Text(value); break;
                case nameof(ComponentOutcome.VersionNow): component.VersionNow = Text(value); break;
                case nameof(ComponentOutcome.Outcome): component.Outcome = IsNull(value) ? null : (RollbackOutcome)ReadEnum(value, typeof(RollbackOutcome)); break;
                case nameof(ComponentOutcome.AttemptId): component.AttemptId = Text(value); break;
                case nameof(ComponentOutcome.CheckpointName): component.CheckpointName = Text(value); break;
                case nameof(ComponentOutcome.Wave): component.Wave = value.GetInt32(); break;
                case nameof(ComponentOutcome.StartedAt): component.StartedAt = IsNull(value) ? null : Time(value); break;
                case nameof(ComponentOutcome.Duration): component.Duration = IsNull(value) ? null : Duration(value); break;
                case nameof(ComponentOutcome.Message): component.Message = Text(value); break;
            }
        }

        return component;
    }

    // Enums as the journal's JsonStringEnumConverter writes them: the name, or the number for a value with no name.
    private static void WriteEnum(Utf8JsonWriter writer, string name, Enum value)
    {
        if (Enum.IsDefined(value.GetType(), value))
        {
            writer.WriteString(name, value.ToString());
        }
        else
        {
            writer.WriteNumber(name, Convert.ToInt64(value, CultureInfo.InvariantCulture));
        }
    }

    // Non-generic Enum calls: the generic ones are compiled at run time for each enum type.
    private static object ReadEnum(JsonElement value, Type type) => value.ValueKind switch
    {
        JsonValueKind.String when Enum.TryParse(type, value.GetString(), ignoreCase: true, out var parsed) => parsed!,
        JsonValueKind.Number => Enum.ToObject(type, value.GetInt64()),
        _ => throw new JsonException($"'{value.GetRawText()}' is not a value of {type.Name}."),
    };

    // Durations as the serializer writes them: the constant ("c") format, [-][d.]hh:mm:ss[.fffffff].
    private static void WriteTime(Utf8JsonWriter writer, string name, TimeSpan? value)
    {
        if (value is { } duration)
        {
            writer.WriteString(name, duration.ToString("c", CultureInfo.InvariantCulture));
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteTime(Utf8JsonWriter writer, string name, DateTimeOffset? value)
    {
        if (value is { } time)
        {
            writer.WriteString(name, time);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteNumber(Utf8JsonWriter writer, string name, int? value)
    {
        if (value is { } number)
        {
            writer.WriteNumber(name, number);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, List<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }

    private static void WriteList<T>(Utf8JsonWriter writer, string name, List<T> items, Action<Utf8JsonWriter, T> write)
        where T : class
    {
        writer.WriteStartArray(name);
        foreach (var item in items)
        {
            write(writer, item);
        }

        writer.WriteEndArray();
    }

    // A list written as null (never by this module) reads as empty rather than as a null the callers do not expect.
    private static List<T> ReadList<T>(JsonElement json, Func<JsonElement, T> read)
    {
        var items = new List<T>();
        if (json.ValueKind == JsonValueKind.Null)
        {
            return items;
        }

        foreach (var item in json.EnumerateArray())
        {
            items.Add(read(item));
        }

        return items;
    }

    private static JsonElement.ObjectEnumerator Properties(JsonElement json) =>
        json.ValueKind == JsonValueKind.Object ? json.EnumerateObject() : throw new JsonException($"Expected an object, found {json.ValueKind}.");

    private static bool IsNull(JsonElement value) => value.ValueKind == JsonValueKind.Null;

    private static string? Text(JsonElement value) => value.ValueKind == JsonValueKind.Null ? null : value.GetString();

    private static DateTimeOffset Time(JsonElement value) =>
        value.TryGetDateTimeOffset(out var time) ? time : throw new JsonException($"'{value.GetRawText()}' is not a date and time.");

    private static TimeSpan Duration(JsonElement value) =>
        value.ValueKind == JsonValueKind.String && TimeSpan.TryParseExact(value.GetString(), "c", CultureInfo.InvariantCulture, out var duration)
            ? duration
            : throw new JsonException($"'{value.GetRawText()}' is not a duration.");
}
