using System.Text;
using System.Text.Json;

namespace DeploymentRollback.Engine.FeatureFlag;

/// <summary>
/// Where a value sits in a JSON text (comments and trailing commas allowed), so a flag file can be changed by replacing
/// just that value: its formatting, comments and every other byte stay as they were.
/// </summary>
internal static class JsonValueSpan
{
    /// <summary>The value at a path of property names and array indexes, as [Start, End) in the text; null when absent.</summary>
    public static (int Start, int End)? Find(string text, params object[] path)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var depth = 0;
        if (!reader.Read())
        {
            return null;
        }

        while (true)
        {
            if (depth == path.Length)
            {
                var start = (int)reader.TokenStartIndex;
                int end;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                    end = (int)reader.TokenStartIndex + 1;
                }
                else
                {
                    end = start + reader.ValueSpan.Length + (reader.TokenType == JsonTokenType.String ? 2 : 0);
                }

                return (Encoding.UTF8.GetCharCount(bytes, 0, start), Encoding.UTF8.GetCharCount(bytes, 0, end));
            }

            if (!Enter(ref reader, path[depth]))
            {
                return null;
            }

            depth++;
        }
    }

    public static string Replace(string text, (int Start, int End) span, string value) => string.Concat(text.AsSpan(0, span.Start), value, text.AsSpan(span.End));

    /// <summary>Moves from a container's start token to the start of the member or item named by step.</summary>
    private static bool Enter(ref Utf8JsonReader reader, object step)
    {
        if (step is string name && reader.TokenType == JsonTokenType.StartObject)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var matches = reader.ValueTextEquals(name);
                reader.Read();
                if (matches)
                {
                    return true;
                }

                reader.Skip();
            }

            return false;
        }

        if (step is int index && reader.TokenType == JsonTokenType.StartArray)
        {
            for (var i = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; i++)
            {
                if (i == index)
                {
                    return true;
                }

                reader.Skip();
            }
        }

        return false;
    }
}
