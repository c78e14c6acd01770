using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EfCoreApp.Migrations
{
    /// <summary>Fills the notes of existing orders: the old (empty) notes are gone, so this cannot be undone.</summary>
    public partial class Backfill : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(@"UPDATE orders SET ""Note"" = 'imported' WHERE ""Note"" IS NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            throw new NotSupportedException("The Backfill migration cannot be undone: the notes it replaced are not kept.");
        }
    }
}
