// ESLint: real checks only (formatting is Prettier's). Type-aware rules from typescript-eslint
// catch promises nobody awaits and conditions that are always true; react-hooks checks the web
// client's hook dependencies.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "web/dist/", "dist/", ".vchat/", "test-artifacts/", "**/*.cjs"] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // Pulumi outputs, JSON bodies and SQLite rows are `any`/`unknown` by nature and zod checks
      // data at the edges: the no-unsafe-* family would flag every such read, not bugs.
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-base-to-string": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/unbound-method": "off",
      // An async listener is the usual way to handle an event; a floating promise is not.
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  { files: ["**/*.js"], ...tseslint.configs.disableTypeChecked },
  { files: ["**/*.test.ts", "**/*.test.tsx", "tests/**", "bench/**"], rules: { "@typescript-eslint/no-explicit-any": "off", "no-useless-assignment": "off" } },
  { files: ["web/src/**/*.tsx", "web/src/**/*.ts"], ...reactHooks.configs.flat["recommended-latest"] },
);
