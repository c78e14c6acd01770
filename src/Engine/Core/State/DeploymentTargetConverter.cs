using System.Text.Json;
using System.Text.Json.Serialization;

namespace DeploymentRollback.Engine;

/// <summary>
/// Journaled results, assessments and checkpoint manifests carry their target as the strategy's record, written with
/// its Strategy name and read back as the catalog's record of that name. A name the catalog does not know (a journal
/// written by another version) reads as no target rather than failing the whole read.
/// </summary>
internal sealed class DeploymentTargetConverter : JsonConverter<DeploymentTarget>
{
    public override DeploymentTarget? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty(nameof(DeploymentTarget.Strategy), out var name) || name.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        var type = StrategyRegistry.TargetTypes.FirstOrDefault(t => DeploymentTarget.StrategyOf(t) == name.GetString());
        return type is null ? null : (DeploymentTarget?)document.RootElement.Deserialize(type, options);
    }

    // The record's own type: this converter is for the declared base type only, so it is not called again for it.
    public override void Write(Utf8JsonWriter writer, DeploymentTarget value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, value.GetType(), options);
}
