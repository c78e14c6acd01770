using System.Text.Json.Serialization;

namespace DeploymentRollback.Engine;

/// <summary>
/// Compile-time JSON metadata for every strategy's target, which journaled attempts, assessments and checkpoint
/// manifests carry. Read by reflection, a target was about 35 ms of the first read of an attempt in a fresh process.
/// A new strategy's target is added here (JournalJsonTests checks that each one is).
/// </summary>
[JsonSerializable(typeof(ConfigTarget))]
[JsonSerializable(typeof(ContainerTarget))]
[JsonSerializable(typeof(DatabaseTarget))]
[JsonSerializable(typeof(DockerComposeTarget))]
[JsonSerializable(typeof(FeatureFlagTarget))]
[JsonSerializable(typeof(GitTarget))]
[JsonSerializable(typeof(KubernetesTarget))]
[JsonSerializable(typeof(ReleaseTarget))]
internal sealed partial class TargetJson : JsonSerializerContext;
