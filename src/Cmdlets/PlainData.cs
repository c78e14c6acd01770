using System.Collections;
using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>PowerShell values (hashtables, custom objects, lists) as plain JSON-ready data: nested dictionaries and lists.</summary>
internal static class PlainData
{
    /// <summary>A hashtable of texts (such as -Map's selectors and targets) as pairs, in its order; null stays null.</summary>
    public static List<KeyValuePair<string, string>>? Pairs(IDictionary? table) =>
        table?.Keys.Cast<object>().Select(key => new KeyValuePair<string, string>(key.ToString() ?? "", (table[key] is PSObject wrapped ? wrapped.BaseObject : table[key])?.ToString() ?? "")).ToList();

    /// <summary>Hashtables and custom objects become dictionaries, lists lists, and other values their text; deeper than maxDepth is tooDeep().</summary>
    public static object? From(object? value, int maxDepth, Func<RollbackException> tooDeep, int depth = 0)
    {
        if (depth > maxDepth)
        {
            throw tooDeep();
        }

        if (value is PSObject { BaseObject: PSCustomObject } custom)
        {
            return custom.Properties.ToDictionary(p => p.Name, p => From(p.Value, maxDepth, tooDeep, depth + 1), StringComparer.Ordinal);
        }

        value = value is PSObject wrapped ? wrapped.BaseObject : value;
        return value switch
        {
            null or string or bool or int or long or double or decimal or DateTime or DateTimeOffset => value,
            // Keys, not Cast<DictionaryEntry>(): a generic dictionary enumerates KeyValuePairs.
            IDictionary table => table.Keys.Cast<object>().ToDictionary(k => k.ToString() ?? "", k => From(table[k], maxDepth, tooDeep, depth + 1), StringComparer.Ordinal),
            IEnumerable items => items.Cast<object?>().Select(item => From(item, maxDepth, tooDeep, depth + 1)).ToList(),
            _ => value.ToString(),
        };
    }
}
