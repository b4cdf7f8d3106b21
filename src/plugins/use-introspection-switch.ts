import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Federation's `_service { sdl }` spells out the schema as much as `__schema` does: it follows the same switch. */
const NoServiceSdlRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '_service' && context.getParentType() === context.getSchema().getQueryType()) {
      context.reportError(
        new GraphQLError('GraphQL introspection has been disabled, and with it `_service`; compose from the SDL instead.', { nodes: node }),
      );
    }
  },
});

/**
 * With INTROSPECTION=false, `__schema`, `__type` and `_service` fail validation: the schema is not spelled out to
 * strangers.
 */
export function useIntrospectionSwitch(enabled: boolean): Plugin {
  return enabled
    ? {}
    : {
        onValidate: ({ addValidationRule }) => {
          addValidationRule(NoSchemaIntrospectionCustomRule);
          addValidationRule(NoServiceSdlRule);
        },
      };
}
