using System.Collections;
using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// A signal's data as JSON, written by hand for the values signals carry (text, numbers, flags, times, lists and
/// nested tables), as the serializer wrote them through the journal's options. The serializer resolves the metadata of
/// each value's run-time type and compiles its generic code on first use: some 35 ms of a fresh process's first
/// signal. Any other value is handed to the serializer as before.
/// </summary>
internal static class SignalDataJson
{
    public static byte[] ToUtf8(IReadOnlyDictionary<string, object?> data)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteValue(writer, data);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case string text: writer.WriteStringValue(text); break;
            case bool flag: writer.WriteBooleanValue(flag); break;
            case int number: writer.WriteNumberValue(number); break;
            case long number: writer.WriteNumberValue(number); break;
            case double number when double.IsFinite(number): writer.WriteNumberValue(number); break;
            case decimal number: writer.WriteNumberValue(number); break;
            case DateTimeOffset time: writer.WriteStringValue(time); break;
            case DateTime time: writer.WriteStringValue(time); break;
            case TimeSpan duration: writer.WriteStringValue(duration.ToString("c", CultureInfo.InvariantCulture)); break;
            case Enum named when Enum.IsDefined(named.GetType(), named): writer.WriteStringValue(named.ToString()); break;
            case IReadOnlyDictionary<string, object?> table:
                writer.WriteStartObject();
                foreach (var (key, item) in table)
                {
                    writer.WritePropertyName(key);
                    WriteValue(writer, item);
                }

                writer.WriteEndObject();
                break;
            case IEnumerable<object?> items when value is not IDictionary:
                writer.WriteStartArray();
                foreach (var item in items)
                {
                    WriteValue(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                JsonSerializer.Serialize(writer, value, value.GetType(), Journal.JsonOptions);
                break;
        }
    }
}
