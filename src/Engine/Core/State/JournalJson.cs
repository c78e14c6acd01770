using System.Text.Json.Serialization;

namespace DeploymentRollback.Engine;

/// <summary>
/// Compile-time JSON metadata for what the journal writes and reads most. Without it the first attempt or assessment
/// in a fresh process (every runbook job) builds the metadata by reflection and emits accessors for the JIT.
/// Journal.JsonOptions still applies its own converters and falls back to reflection for anything not listed.
/// The attempt itself is written and read by AttemptJsonConverter, the strategies' targets in it through TargetJson.
/// </summary>
[JsonSerializable(typeof(VerifiedVersion))]
[JsonSerializable(typeof(JournalEvent))]
[JsonSerializable(typeof(LockHolder))]
[JsonSerializable(typeof(InterruptedAttempts.StepStart))]
[JsonSerializable(typeof(LogComparison))]
[JsonSerializable(typeof(ReleaseSnapshot))]
internal sealed partial class JournalJson : JsonSerializerContext;
